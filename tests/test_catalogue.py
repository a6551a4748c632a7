"""The translation catalogue: every message the code asks for exists, and languages fall back.

The first tests read the source itself (Python through its syntax tree, the
web templates as text) for every message key the code looks up, so a key
misspelt in a template or removed from English fails here rather than as a
``KeyError`` on a respondent's page.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from instrument import catalogue
from instrument.catalogue import Catalogue
from instrument.engine.messages import message
from instrument_web.messages import ui

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "instrument", ROOT / "modes", ROOT / "plugins"]
TEMPLATES = [ROOT / "modes" / "instrument_web" / "templates", ROOT / "instrument" / "server"]
LOOKUPS = {"message": "engine", "ui": "web"}
"""Functions that look a key up in one domain, by name."""
BOUND = {
    "modes/instrument_console": {"say": "console"},
    "instrument/engine": {"say": "engine", "engine_says": "engine"},
}
"""Functions already bound to a language (the key is their first argument), by folder and name."""


def _python_files() -> Iterator[Path]:
    for source in SOURCES:
        yield from (p for p in source.rglob("*.py") if "__pycache__" not in p.parts)


def _strings_in(node: ast.AST) -> list[str]:
    """The strings an expression can be (for ``a if test else b``, those of ``a`` and ``b``)."""
    if isinstance(node, ast.IfExp):
        return _strings_in(node.body) + _strings_in(node.orelse)
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    return [s for child in ast.iter_child_nodes(node) for s in _strings_in(child)]


def _contains(node: ast.AST, target: ast.AST) -> bool:
    return any(n is target for n in ast.walk(node))


def _key_patterns(argument: ast.expr, scope: ast.AST, call: ast.Call) -> list[str]:
    """Regular expressions for the keys an argument can be: literals, f-strings, a name's values.

    A name takes the values of the loop or comprehension around the call that
    binds it, else of its assignments in the enclosing function.
    """
    if isinstance(argument, ast.JoinedStr):
        parts = [
            re.escape(v.value) if isinstance(v, ast.Constant) else r"\w+" for v in argument.values
        ]
        return ["".join(parts)]
    if not isinstance(argument, ast.Name):
        return [re.escape(s) for s in _strings_in(argument)]
    name = argument.id
    for node in ast.walk(scope):
        loops: list[ast.For | ast.comprehension] = []
        if isinstance(node, ast.For) and _contains(node, call):
            loops.append(node)
        comprehension = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
        if isinstance(node, comprehension) and _contains(node, call):
            loops.extend(node.generators)
        for loop in loops:
            if isinstance(loop.target, ast.Name) and loop.target.id == name:
                return [re.escape(s) for s in _strings_in(loop.iter)]
    found = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            found.extend(re.escape(s) for s in _strings_in(node.value))
    return found


def _lookups_in_python() -> Iterator[tuple[str, str, str]]:
    """(where, domain, key pattern) for every message lookup in the Python sources."""
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        ]
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            callee = call.func
            name = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
            bound = next(
                (names for folder, names in BOUND.items() if path.is_relative_to(ROOT / folder)),
                {},
            )
            if name in bound and call.args:
                domain, argument = bound[name], call.args[0]
            elif name in LOOKUPS and len(call.args) >= 2:
                domain, argument = LOOKUPS[name], call.args[1]
            elif name == "text" and len(call.args) >= 3 and isinstance(call.args[1], ast.Constant):
                if not (isinstance(callee, ast.Attribute) and _is_catalogue(callee.value)):
                    continue
                domain, argument = call.args[1].value, call.args[2]
            else:
                continue
            around = [f for f in functions if any(n is call for n in ast.walk(f))]
            enclosing = max(around, key=lambda f: (f.lineno, f.col_offset), default=None)
            if (
                isinstance(argument, ast.Name)
                and enclosing is not None
                and argument.id in {a.arg for a in enclosing.args.args}
            ):
                continue  # a forwarder (a template's t()): its callers are checked instead
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            patterns = _key_patterns(argument, enclosing or tree, call)
            assert patterns, f"{where}: cannot tell which message key {ast.unparse(argument)} is"
            for pattern in patterns:
                yield where, domain, pattern


def _is_catalogue(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "catalogue"


def _lookups_in_templates() -> Iterator[tuple[str, str, str]]:
    for folder in TEMPLATES:
        for path in folder.rglob("*.html"):
            text = path.read_text(encoding="utf-8")
            for match in re.finditer(r"\b(t|say|words)\(\s*['\"]([^'\"]+)['\"]", text):
                line = text.count("\n", 0, match.start()) + 1
                # say(): the host's words; words(): the panel's pages for members
                domain = {"t": "web", "say": "server", "words": "panel"}[match.group(1)]
                yield f"{path.relative_to(ROOT)}:{line}", domain, re.escape(match.group(2))


def test_every_key_the_code_looks_up_is_in_english() -> None:
    lookups = list(_lookups_in_python()) + list(_lookups_in_templates())
    domains = {domain for _where, domain, _pattern in lookups}
    assert {"engine", "web", "console"} <= domains  # the scan found the lookups it is meant to find
    missing = [
        f"{where}: {domain}.{pattern}"
        for where, domain, pattern in lookups
        if not any(re.fullmatch(pattern, key) for key in catalogue.keys(domain))
    ]
    assert missing == []


def test_the_shipped_translations_are_all_usable() -> None:
    assert catalogue.problems() == []
    assert catalogue.languages()[0] == "en"
    assert "cy" in catalogue.languages()


def test_welsh_is_complete() -> None:
    assert catalogue.CATALOGUE.missing("cy") == []
    assert catalogue.CATALOGUE.missing("cy-GB") == []
    assert ui("cy", "check_answer") == "Gwiriwch eich ateb"
    assert message("cy", "between", min=1, max=9) == "Rhowch rif rhwng 1 a 9"


def test_a_language_lacking_a_message_falls_back_to_english_for_that_message_only() -> None:
    swahili = catalogue.CATALOGUE.extended({"sw": {"web": {"continue": "Endelea"}}})
    words = swahili.domain("web")
    assert words("sw", "continue") == "Endelea"
    assert words("sw", "check_answer") == "Check your answer"
    assert swahili.domain("engine")("sw", "too_long", max_length=3, length=5) == (
        "Your answer must be 3 characters or fewer (it is 5)"
    )
    assert "web.check_answer" in swahili.missing("sw")
    assert "web.continue" not in swahili.missing("sw")
    assert catalogue.CATALOGUE.domain("web")("sw", "continue") == "Continue"  # ours untouched


def test_a_researchers_text_wins_over_ours_for_that_questionnaire() -> None:
    reworded = catalogue.CATALOGUE.extended({"cy": {"web": {"continue": "Ymlaen"}}})
    assert reworded.domain("web")("cy", "continue") == "Ymlaen"
    assert reworded.domain("web")("cy", "back") == "Yn ôl"
    assert reworded.missing("cy") == []


def test_regional_and_unknown_languages() -> None:
    assert ui("cy-GB", "continue") == "Parhau"
    assert ui("fr", "continue") == "Continue"
    assert catalogue.language_name("cy") == "Cymraeg"
    assert catalogue.language_name("sw") == "Kiswahili"
    assert catalogue.language_name("xx") == "xx"
    assert catalogue.language_names(["cy-GB", "en-GB"]) == {"cy-GB": "Cymraeg", "en-GB": "English"}
    assert catalogue.language_names(["en", "en-US"])["en-US"] == "English (United States)"
    assert catalogue.language_names(["gd", "pt-BR"]) == {"gd": "Gàidhlig", "pt-BR": "Português"}


def test_an_unknown_key_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        ui("en", "no_such_words")


def test_the_dataset_missing_labels_come_from_the_catalogue() -> None:
    from instrument.dataset import MISSING_LABELS

    assert {
        key: catalogue.text("en", "dataset", key)
        for key in ("dk", "refused", "routed_past", "unanswered")
    } == MISSING_LABELS
    assert MISSING_LABELS["routed_past"] == "Inapplicable (routed past)"


ENGLISH = {"d": {"hello": "Hello {name}", "bye": "Goodbye", "count": "{n} left"}}


def test_fallback_is_per_message_in_a_built_catalogue() -> None:
    built = Catalogue({"en": ENGLISH, "xx": {"d": {"hello": "Xello {name}"}}})
    words = built.domains["d"]
    assert words.text("xx", "hello", name="Ann") == "Xello Ann"
    assert words.text("xx", "bye") == "Goodbye"
    assert words.text("xx-YY", "bye") == "Goodbye"
    assert words("zz", "count", n=3) == "3 left"
    assert built.problems == []


def test_translations_that_would_misuse_their_values_are_left_out_and_reported() -> None:
    built = Catalogue(
        {
            "en": ENGLISH,
            "xx": {
                "d": {
                    "hello": "Xello {name.__class__}",
                    "bye": "Xoodbye {secret}",
                    "count": "{n!r} xeft",
                    "extra": "Xtra",
                },
                "other": {"a": "b"},
            },
        }
    )
    words = built.domains["d"]
    assert words.text("xx", "hello", name="Ann") == "Hello Ann"
    assert words.text("xx", "bye") == "Goodbye"
    assert words.text("xx", "count", n=2) == "2 left"
    assert len(built.problems) == 5
    assert any("'d.extra' is not in English" in p for p in built.problems)
    assert any("domain 'other'" in p for p in built.problems)


def test_a_placeholder_given_no_value_stays_as_written() -> None:
    built = Catalogue({"en": ENGLISH})
    assert built.domains["d"].text("en", "hello", other="x") == "Hello {name}"
    assert built.domains["d"].text("en", "hello") == "Hello {name}"


def test_english_with_other_format_syntax_is_refused() -> None:
    with pytest.raises(ValueError, match="format syntax"):
        Catalogue({"en": {"d": {"bad": "{0}"}}})
    with pytest.raises(ValueError, match="format syntax"):
        Catalogue({"en": {"d": {"bad": "{a:>10}"}}})


def test_a_regional_language_with_its_own_texts_keeps_its_languages_texts() -> None:
    built = Catalogue(
        {"en": ENGLISH, "xx": {"d": {"hello": "Xello {name}", "bye": "Xoodbye"}}},
        supplied={"xx-YY": {"d": {"bye": "Xoodbye, y'all"}}},
    )
    words = built.domains["d"]
    assert words.text("xx-YY", "bye") == "Xoodbye, y'all"
    assert words.text("xx-YY", "hello", name="Ann") == "Xello Ann"  # the language's own
    assert words.text("xx-YY", "count", n=1) == "1 left"
    assert built.missing("xx-YY") == ["d.count"]
    assert built.problems == []


PLURAL_ENGLISH = {"d": {"left": ("{n} answer left", "{n} answers left"), "hello": "Hello {name}"}}


def test_a_text_with_a_count_takes_each_languages_plural_form() -> None:
    polish = ("Została {n} odpowiedź", "Zostały {n} odpowiedzi", "Zostało {n} odpowiedzi")
    built = Catalogue({"en": PLURAL_ENGLISH, "pl": {"d": {"left": polish}}})
    words = built.domains["d"]
    assert [words("en", "left", n=n) for n in (1, 2)] == ["1 answer left", "2 answers left"]
    assert [words("pl", "left", n=n) for n in (1, 3, 5, 22)] == [
        "Została 1 odpowiedź",
        "Zostały 3 odpowiedzi",
        "Zostało 5 odpowiedzi",
        "Zostały 22 odpowiedzi",
    ]
    assert words("xx", "left", n=1) == "1 answer left"  # English's forms, by English's rule
    assert built.problems == []


def test_plural_forms_of_the_wrong_number_or_kind_are_left_out_and_reported() -> None:
    built = Catalogue(
        {
            "en": PLURAL_ENGLISH,
            "pl": {"d": {"left": ("{n} odpowiedź", "{n} odpowiedzi")}},  # Polish has three
            "cy": {"d": {"left": "{n} ateb", "hello": ("Helo {name}",) * 6}},
        }
    )
    words = built.domains["d"]
    assert words("pl", "left", n=5) == "5 answers left"
    assert words("cy", "left", n=5) == "5 answers left"
    assert words("cy", "hello", name="Siân") == "Hello Siân"
    assert len(built.problems) == 3
    assert any("has 2 plural forms where 'pl' has 3" in p for p in built.problems)


def test_our_plural_texts_are_right_in_english_and_welsh() -> None:
    assert message("en", "min_choices", n=1) == "Select at least 1 answer"
    assert message("en", "min_choices", n=2) == "Select at least 2 answers"
    assert message("cy", "min_choices", n=2) == "Dewiswch o leiaf 2 ateb"  # Welsh: singular noun
