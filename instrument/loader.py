"""Read a questionnaire file into a :class:`~instrument.model.Questionnaire`.

Loading and checking are one job: every rule in ``docs/questionnaire-format.md``
is enforced here, and every problem becomes a :class:`Diagnostic` with the
file, line and column it concerns. A broken file never produces a traceback:
:func:`load_questionnaire` returns what it could build plus the diagnostics.

The work is done in two passes over the ``items`` tree. The first assigns every
variable its type, loop and page order, so that the second can type-check each
expression against exactly the variables known at that point of the route.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from instrument.diagnostics import (
    Diagnostic,
    Diagnostics,
    Position,
    QuestionnaireError,
    did_you_mean,
)
from instrument.expressions import (
    CompiledExpression,
    ExpressionError,
    Scope,
    ValueType,
    VarInfo,
    compile_expression,
)
from instrument.model import (
    CHOICE_TYPES,
    MODES,
    QUESTION_TYPES,
    VALUE_TYPE_OF,
    Block,
    Check,
    ChoiceList,
    Experiment,
    GridRow,
    Item,
    Loop,
    MissingFrame,
    Option,
    Page,
    Preload,
    Question,
    Questionnaire,
    Scenario,
    Section,
    Text,
    Variable,
)
from instrument.names import MAX_VALUE_LABEL, MAX_VARIABLE_LABEL, name_problem
from instrument.texts import FILL_GLOBALS, TemplateSyntax, TextTemplate, make_environments
from instrument.yamlsrc import YMap, YNode, YScalar, YSeq, parse_yaml

__all__ = ["load_questionnaire", "load_questionnaire_text", "require_questionnaire", "LoadResult"]

# --- the shape of the file ---------------------------------------------------

TOP_KEYS = ("meta", "missing", "preload", "experiments", "choices", "items", "tests")
META_KEYS = ("id", "version", "title", "languages", "default_language", "modes", "web_missing")
MISSING_KEYS = ("dk", "refused", "routed_past", "unanswered")
OPTION_KEYS = ("code", "label", "read_out", "exclusive", "other_specify", "fixed", "not_read_out")
PRELOAD_KEYS = ("id", "type", "label", "choices", "export")
PRELOAD_TYPES = ("integer", "decimal", "text", "date", "single")
EXPERIMENT_KEYS = ("id", "label", "arms")
CHECK_KEYS = ("error_if", "warn_if", "message")
ROW_KEYS = ("id", "text", "read_out", "ivr", "label", "when")
TEXT_ROLES = ("text", "read_out", "ivr", "instruction", "hint")
COMMON_QUESTION_KEYS = (
    "id",
    "type",
    "label",
    "when",
    "required",
    "dk",
    "refused",
    "checks",
    "level",
    *TEXT_ROLES,
)
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "single": ("choices", "randomize", "display"),
    "multi": ("choices", "randomize", "min_choices", "max_choices"),
    "yesno": (),
    "integer": ("min", "max", "unit"),
    "decimal": ("min", "max", "places", "unit"),
    "text": ("max_length",),
    "long_text": ("max_length",),
    "date": ("min", "max"),
    "grid": ("choices", "rows", "randomize_rows"),
    "info": (),
    "end": ("outcome",),
    "computed": ("expr",),
}
NO_ANSWER_KEYS = ("required", "dk", "refused", "checks", "level")
CONTAINER_KEYS = {
    "section": ("section", "title", "when", "items"),
    "page": ("page", "when", "items"),
    "block": ("block", "when", "randomize", "items"),
    "loop": ("loop", "count", "for_each", "max", "when", "items"),
}
SCENARIO_KEYS = (
    "name",
    "answers",
    "preload",
    "seed",
    "mode",
    "language",
    "confirm_warnings",
    "expect",
)
EXPECT_KEYS = ("outcome", "asked", "not_asked", "values", "errors")
LEVELS = ("nominal", "ordinal", "scale")
OUTCOMES = ("complete", "screened_out")
WEB_MISSING = ("after_skip", "shown", "never")
DEFAULT_MAX_LENGTH = {"text": 200, "long_text": 2000}
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")
SIMPLE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
YESNO_LABELS = {"en": ("Yes", "No"), "cy": ("Ie", "Na")}
CUSTOM_VALUE_TYPES = {
    "int": ValueType.INTEGER,
    "float": ValueType.DECIMAL,
    "str": ValueType.TEXT,
    "date": ValueType.DATE,
    "codes": ValueType.CODES,
}


@dataclass
class LoadResult:
    """What loading produced: the questionnaire when there were no errors, and every diagnostic."""

    questionnaire: Questionnaire | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.questionnaire is not None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def load_questionnaire(
    path: str | Path,
    *,
    text_environment: Callable[[jinja2.Environment], None] | None = None,
    question_types: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load and check one questionnaire file.

    ``text_environment`` may add filters and globals to the Jinja environments
    used for fills (the plugin host passes ``prepare_text_environment`` here).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadResult(
            None, [Diagnostic(Position(str(path), 1, 1), "error", f"cannot read the file: {exc}")]
        )
    return load_questionnaire_text(
        text, str(path), text_environment=text_environment, question_types=question_types
    )


def require_questionnaire(path: str | Path) -> Questionnaire:
    """Load a questionnaire that must be free of errors (raises :class:`QuestionnaireError`)."""
    result = load_questionnaire(path)
    if result.questionnaire is None:
        raise QuestionnaireError(result.diagnostics)
    return result.questionnaire


def load_questionnaire_text(
    text: str,
    filename: str = "<questionnaire>",
    *,
    text_environment: Callable[[jinja2.Environment], None] | None = None,
    question_types: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load a questionnaire from its YAML text; ``filename`` is used in messages.

    ``question_types`` maps extra type names to plugin ``QuestionType`` objects
    (the plugin host passes its ``register_question_types`` registry).
    """
    diagnostics = Diagnostics()
    root = parse_yaml(text, filename, diagnostics)
    if root is None:
        return LoadResult(None, diagnostics.sorted())
    builder = _Builder(filename, text, diagnostics, text_environment, question_types or {})
    try:
        questionnaire = builder.build(root)
    except _Abort:
        questionnaire = None
    if diagnostics.has_errors():
        questionnaire = None
    return LoadResult(questionnaire, diagnostics.sorted())


class _Abort(Exception):
    """Raised internally when the file is too broken to go on."""


# --- pass 1 records ----------------------------------------------------------


@dataclass
class _RawQuestion:
    node: YMap
    id: str
    type: str
    loop: str | None
    page_seq: int
    ordinal: int
    page_id: str


@dataclass
class _Site:
    """Where an expression or text sits: which loop, and which pages come before."""

    loop: str | None
    page_seq: int  # the page it belongs to (or the first page of a container)
    same_page_ok: bool = False  # checks may read answers from their own page


@dataclass
class _VarMeta:
    info: VarInfo
    page_seq: int  # page on which it is asked; 0 for preloads and experiments
    kind: str
    node_pos: Position
    computed_node: YMap | None = None


# --- the builder --------------------------------------------------------------


class _Builder:
    def __init__(
        self,
        filename: str,
        source: str,
        diagnostics: Diagnostics,
        text_environment: Callable[[jinja2.Environment], None] | None,
        question_types: Mapping[str, Any],
    ) -> None:
        self.filename = filename
        self.custom_types = {n: t for n, t in question_types.items() if n not in QUESTION_TYPES}
        self.source = source
        self.d = diagnostics
        self.html_env, self.plain_env = make_environments(text_environment)
        self.languages: tuple[str, ...] = ("en",)
        self.default_language = "en"
        self.missing = MissingFrame()
        self.choices: dict[str, ChoiceList] = {}
        self.vars: dict[str, _VarMeta] = {}
        self.lower_names: dict[str, Position] = {}
        self.container_ids: dict[str, Position] = {}
        self.raw_questions: list[_RawQuestion] = []
        self.loops_raw: dict[str, YMap] = {}
        self.loop_max: dict[str, int] = {}
        self.questions: dict[str, Question] = {}
        self.pages: dict[str, Page] = {}
        self.loops: dict[str, Loop] = {}
        self.page_counter = 0
        self.ordinal_counter = 0
        self.var_ordinals: dict[str, int] = {}
        self._infos: dict[str, VarInfo] | None = None
        self._infos_size = 0
        self._infos_dirty = False

    # ----- small helpers -----

    def err(self, pos: Position, msg: str) -> None:
        self.d.error(pos, msg)

    def warn(self, pos: Position, msg: str) -> None:
        self.d.warning(pos, msg)

    def expect_map(self, node: YNode | None, what: str, pos: Position) -> YMap | None:
        if node is None:
            return None
        if not isinstance(node, YMap):
            self.err(node.pos, f"{what} must be a mapping (key: value pairs)")
            return None
        for key, kpos in node.non_string_keys:
            self.err(
                kpos,
                f"key {key!r} is not text; quote it (YAML reads yes/no/on/off and numbers as values)",
            )
        return node

    def expect_seq(self, node: YNode | None, what: str) -> YSeq | None:
        if node is None:
            return None
        if not isinstance(node, YSeq):
            self.err(node.pos, f"{what} must be a list")
            return None
        return node

    def check_keys(
        self,
        node: YMap,
        allowed: Iterable[str],
        what: str,
        required: Iterable[str] = (),
        elsewhere: Mapping[str, str] | None = None,
    ) -> None:
        allowed = tuple(allowed)
        for key in node.keys():
            if key in allowed:
                continue
            if elsewhere and key in elsewhere:
                self.err(node.where(key), f"'{key}' does not apply to {what}{elsewhere[key]}")
            else:
                self.err(
                    node.where(key), f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}"
                )
        for key in required:
            if key not in node:
                self.err(node.pos, f"{what} needs '{key}'")

    def scalar(self, node: YNode | None, kind: type | tuple[type, ...], what: str) -> Any:
        """A scalar of the given Python type(s), or None after reporting."""
        if node is None:
            return None
        if not isinstance(node, YScalar):
            self.err(node.pos, f"{what} must be a single value")
            return None
        value = node.value
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.err(node.pos, f"{what} must be {_kind_name(kind)}, not {value!r}")
            return None
        if not isinstance(value, kind):
            self.err(node.pos, f"{what} must be {_kind_name(kind)}, not {value!r}")
            return None
        return value

    def boolean(self, m: YMap, key: str, default: bool, what: str) -> bool:
        value = self.scalar(m.get(key), bool, f"'{key}' of {what}")
        return default if value is None else value

    def expr_pos(self, node: YScalar, offset: int) -> Position:
        text = str(node.value)
        before = text[:offset]
        newlines = before.count("\n")
        if newlines == 0:
            return node.pos.shifted(offset + (1 if node.quoted else 0))
        return Position(node.pos.file, node.pos.line + newlines, offset - before.rfind("\n"))

    def register_name(self, name: str, pos: Position, what: str) -> bool:
        problem = name_problem(name)
        if problem:
            self.err(pos, f"{what}: {problem}")
            return False
        low = name.lower()
        if low in self.lower_names:
            first = self.lower_names[low]
            self.err(
                pos,
                f"duplicate name '{name}' (already used at line {first.line}; names must differ ignoring case)",
            )
            return False
        self.lower_names[low] = pos
        return True

    # ----- texts -----

    def text(self, node: YNode | None, what: str, site: _Site | None) -> Text | None:
        if node is None:
            return None
        by_language: dict[str, TextTemplate] = {}
        if isinstance(node, YScalar):
            if not isinstance(node.value, (str, int, float)) or isinstance(node.value, bool):
                self.err(node.pos, f"{what} must be text")
                return None
            sources = {self.default_language: (str(node.value), node)}
        elif isinstance(node, YMap):
            sources = {}
            if node.non_string_keys:
                self.expect_map(node, what, node.pos)  # reports yes/no/on/off keys
                return None
            for lang, value in node.items():
                if lang not in self.languages:
                    self.err(
                        node.where(lang),
                        f"{what}: language '{lang}' is not in meta.languages{did_you_mean(lang, self.languages)}",
                    )
                    continue
                if not isinstance(value, YScalar) or not isinstance(value.value, (str, int, float)):
                    self.err(value.pos, f"{what} in '{lang}' must be text")
                    continue
                sources[lang] = (str(value.value), value)
            if self.default_language not in sources and sources:
                self.err(
                    node.pos,
                    f"{what} has no text in the default language '{self.default_language}'",
                )
                return None
            for lang in self.languages:
                if lang not in sources and sources:
                    self.warn(
                        node.pos,
                        f"{what} has no '{lang}' text; the '{self.default_language}' text will be used",
                    )
        else:
            self.err(node.pos, f"{what} must be text, or a mapping from language to text")
            return None
        for lang, (source, vnode) in sources.items():
            if not source.strip():
                self.err(vnode.pos, f"{what} is empty")
            try:
                template = TextTemplate.compile(source, self.html_env, self.plain_env)
            except TemplateSyntax as exc:
                self.err(
                    Position(vnode.pos.file, vnode.pos.line + exc.problem.line - 1, vnode.pos.col),
                    f"{what}: fill syntax: {exc.problem.message}",
                )
                continue
            by_language[lang] = template
            for problem in template.warnings:
                self.warn(
                    Position(vnode.pos.file, vnode.pos.line + problem.line - 1, vnode.pos.col),
                    f"{what}: {problem.message}",
                )
            if site is not None:
                self.check_fill_names(template, vnode, what, site)
        if not by_language:
            return None
        return Text(by_language, node.pos)

    def check_fill_names(
        self, template: TextTemplate, node: YScalar, what: str, site: _Site
    ) -> None:
        for name in sorted(template.names):
            if name in FILL_GLOBALS:
                continue
            meta = self.vars.get(name)
            if meta is None:
                self.err(
                    node.pos,
                    f"{what}: the fill names an unknown variable '{name}'{did_you_mean(name, self.vars)}",
                )
                continue
            if meta.info.loop and meta.info.loop != site.loop:
                self.err(
                    node.pos,
                    f"{what}: the fill uses '{name}', which is asked once per iteration of loop '{meta.info.loop}'; it can only be filled inside that loop",
                )
            elif (
                meta.page_seq > site.page_seq
                or (
                    meta.page_seq == site.page_seq
                    and meta.kind != "computed"
                    and not site.same_page_ok
                )
            ) and meta.kind in ("question", "grid_row", "other_text"):
                self.warn(
                    node.pos,
                    f"{what}: the fill uses '{name}', which is not yet answered at this point, so it will be empty",
                )

    # ----- expressions -----

    def expression(
        self,
        node: YNode | None,
        what: str,
        site: _Site | None,
        expected: ValueType | None = ValueType.BOOLEAN,
    ) -> CompiledExpression | None:
        if node is None:
            return None
        if not isinstance(node, YScalar) or isinstance(node.value, (dict, list)):
            self.err(node.pos, f"{what} must be an expression written as text")
            return None
        value = node.value
        if isinstance(value, bool):
            source = "true" if value else "false"
        elif isinstance(value, (int, float)):
            source = str(value)
        elif isinstance(value, str):
            source = value
        else:
            self.err(node.pos, f"{what} must be an expression written as text")
            return None
        scope = Scope(self.var_infos(), loop=site.loop if site else None)
        try:
            compiled = compile_expression(source, scope, expected)
        except ExpressionError as exc:
            self.err(self.expr_pos(node, exc.offset), f"{what}: {exc.message}")
            return None
        for warning in compiled.warnings:
            self.warn(self.expr_pos(node, warning.offset), f"{what}: {warning.message}")
        if site is not None:
            self.check_reference_order(compiled, node, what, site)
        return compiled

    def check_reference_order(
        self, compiled: CompiledExpression, node: YScalar, what: str, site: _Site
    ) -> None:
        for name in sorted(compiled.references):
            meta = self.vars.get(name)
            if meta is None:
                continue
            asked_at = self.effective_page(name, set())
            if asked_at > site.page_seq or (
                asked_at == site.page_seq and not site.same_page_ok and asked_at > 0
            ):
                where = "on the same page" if asked_at == site.page_seq else "later"
                self.err(
                    node.pos,
                    f"{what} uses '{name}', which is asked {where}; a condition can only use answers given on earlier pages",
                )

    def var_infos(self) -> Mapping[str, VarInfo]:
        """Every variable's type information, rebuilt only when a variable was added or changed."""
        if self._infos is None or self._infos_size != len(self.vars) or self._infos_dirty:
            self._infos = {name: meta.info for name, meta in self.vars.items()}
            self._infos_size = len(self.vars)
            self._infos_dirty = False
        return self._infos

    def effective_page(self, name: str, seen: set[str]) -> int:
        """The page by which a variable is known (computed: its latest input)."""
        meta = self.vars[name]
        if meta.kind != "computed":
            return meta.page_seq
        if name in seen:
            return 0  # cycles are reported separately
        seen.add(name)
        deps = self.computed_deps.get(name, frozenset())
        return max((self.effective_page(dep, seen) for dep in deps if dep in self.vars), default=0)

    # ----- top level -----

    def build(self, root: YNode) -> Questionnaire:
        top = self.expect_map(root, "the questionnaire", Position(self.filename, 1, 1))
        if top is None:
            raise _Abort
        self.check_keys(top, TOP_KEYS, "the questionnaire", required=("meta", "items"))
        meta = self.expect_map(top.get("meta"), "meta", top.pos)
        if meta is None:
            raise _Abort
        self.read_languages(meta)
        title = self.text(meta.get("title"), "meta.title", None)
        qid = self.scalar(meta.get("id"), str, "meta.id")
        version = meta.get("version")
        version_text = (
            str(version.value)
            if isinstance(version, YScalar) and version.value is not None
            else None
        )
        self.check_keys(meta, META_KEYS, "meta", required=("id", "version", "title", "languages"))
        if qid is not None and not SIMPLE_ID.match(qid):
            self.err(
                meta.get("id").pos,
                f"meta.id '{qid}' must start with a letter and use only letters, digits and underscores",
            )
        modes = self.read_modes(meta)
        web_missing = self.scalar(meta.get("web_missing"), str, "meta.web_missing") or "after_skip"
        if web_missing not in WEB_MISSING:
            self.err(
                meta.where("web_missing"),
                f"meta.web_missing must be one of {', '.join(WEB_MISSING)}{did_you_mean(web_missing, WEB_MISSING)}",
            )
        self.read_missing(top.get("missing"))
        self.read_choices(top.get("choices"))
        preload = self.read_preload(top.get("preload"))
        experiments = self.read_experiments(top.get("experiments"))

        items_node = self.expect_seq(top.get("items"), "items")
        if items_node is None:
            raise _Abort
        if len(items_node) == 0:
            self.err(items_node.pos, "items is empty: a questionnaire needs at least one question")
        # pass 1: names, types, loops, pages
        self.computed_deps: dict[str, frozenset[str]] = {}
        self.scan_items(items_node, loop=None, in_page=None)
        self.precompile_computed()
        # pass 2: build the model
        items = self.build_items(items_node, loop=None)
        self.check_computed_cycles()
        self.check_generated_names()
        tests = self.read_tests(top.get("tests"))

        if self.d.has_errors():
            raise _Abort
        variables = self.make_variables(preload, experiments)
        return Questionnaire(
            id=qid or "",
            version=version_text or "",
            title=title or Text({}, top.pos),
            languages=self.languages,
            default_language=self.default_language,
            modes=modes,
            web_missing=web_missing,
            missing=self.missing,
            choices=dict(self.choices),
            preload=preload,
            experiments=experiments,
            items=tuple(items),
            questions=dict(self.questions),
            variables=variables,
            loops=dict(self.loops),
            pages=dict(self.pages),
            tests=tests,
            source_text=self.source,
            source_path=self.filename,
            question_count=max(self.ordinal_counter, 1),
        )

    def read_languages(self, meta: YMap) -> None:
        node = meta.get("languages")
        langs: list[str] = []
        if isinstance(node, YSeq):
            for item in node:
                code = self.scalar(item, str, "a language code")
                if code is None:
                    continue
                if not LANGUAGE_CODE.match(code):
                    self.err(item.pos, f"'{code}' is not a language code such as en, cy or en-GB")
                elif code in langs:
                    self.err(item.pos, f"language '{code}' is listed twice")
                else:
                    langs.append(code)
        elif node is not None:
            self.err(node.pos, "meta.languages must be a list such as [en, cy]")
        if not langs:
            langs = ["en"]
        self.languages = tuple(langs)
        default = self.scalar(meta.get("default_language"), str, "meta.default_language")
        if default is not None and default not in langs:
            self.err(
                meta.where("default_language"),
                f"default_language '{default}' is not in meta.languages",
            )
            default = None
        self.default_language = default or langs[0]

    def read_modes(self, meta: YMap) -> tuple[str, ...]:
        node = meta.get("modes")
        if node is None:
            return MODES
        seq = self.expect_seq(node, "meta.modes")
        modes: list[str] = []
        for item in seq or ():
            mode = self.scalar(item, str, "a mode")
            if mode is None:
                continue
            if mode not in MODES:
                self.err(
                    item.pos,
                    f"unknown mode '{mode}'; modes are {', '.join(MODES)}{did_you_mean(mode, MODES)}",
                )
            else:
                modes.append(mode)
        return tuple(modes) or MODES

    def read_missing(self, node: YNode | None) -> None:
        m = self.expect_map(node, "missing", Position(self.filename, 1, 1))
        if m is None:
            return
        self.check_keys(m, MISSING_KEYS, "missing")
        codes = self.missing.codes()
        for key in MISSING_KEYS:
            value = self.scalar(m.get(key), int, f"missing.{key}")
            if value is not None:
                codes[key] = value
        if len(set(codes.values())) != len(codes):
            self.err(m.pos, "the missing codes must all differ")
        self.missing = MissingFrame(**codes)

    # ----- choices -----

    def read_choices(self, node: YNode | None) -> None:
        m = self.expect_map(node, "choices", Position(self.filename, 1, 1))
        if m is None:
            return
        for name, list_node in m.items():
            if not SIMPLE_ID.match(name):
                self.err(
                    m.where(name),
                    f"choice list name '{name}' must start with a letter and use letters, digits and underscores",
                )
            parsed = self.choice_list(list_node, name, f"choice list '{name}'")
            if parsed is not None:
                self.choices[name] = parsed

    def choice_list(self, node: YNode, name: str, what: str) -> ChoiceList | None:
        seq = self.expect_seq(node, what)
        if seq is None:
            return None
        if len(seq) == 0:
            self.err(seq.pos, f"{what} has no options")
            return None
        options: list[Option] = []
        seen: dict[int, Position] = {}
        missing_codes = {v: k for k, v in self.missing.codes().items()}
        for item in seq:
            om = self.expect_map(item, f"an option of {what}", seq.pos)
            if om is None:
                continue
            self.check_keys(om, OPTION_KEYS, f"an option of {what}", required=("code", "label"))
            code = self.scalar(om.get("code"), int, "an option code")
            label = self.text(om.get("label"), f"the label of option {code}", None)
            if code is None or label is None:
                continue
            if code in seen:
                self.err(
                    om.where("code"),
                    f"code {code} is used twice in {what} (first at line {seen[code].line})",
                )
                continue
            if code in missing_codes:
                self.err(
                    om.where("code"),
                    f"code {code} in {what} collides with the missing-value code for {missing_codes[code].replace('_', ' ')}; choose another code, or use dk/refused on the question",
                )
            seen[code] = om.where("code")
            for _lang, template in label.by_language.items():
                if len(template.source) > MAX_VALUE_LABEL["SPSS"]:
                    self.warn(
                        label.pos,
                        f"the label of option {code} is {len(template.source)} characters; SPSS value labels hold {MAX_VALUE_LABEL['SPSS']} and Stata's 80, so exports will shorten it",
                    )
                elif len(template.source) > MAX_VALUE_LABEL["Stata"]:
                    self.warn(
                        label.pos,
                        f"the label of option {code} is {len(template.source)} characters; Stata value labels hold 80, so the Stata export will shorten it",
                    )
                if template.names:
                    self.err(
                        label.pos,
                        f"the label of option {code} uses a fill; option labels must be fixed text because they become value labels",
                    )
            options.append(
                Option(
                    code=code,
                    label=label,
                    read_out=self.text(om.get("read_out"), f"read_out of option {code}", None),
                    exclusive=self.boolean(om, "exclusive", False, "an option"),
                    other_specify=self.boolean(om, "other_specify", False, "an option"),
                    fixed=self.boolean(om, "fixed", False, "an option"),
                    not_read_out=self.boolean(om, "not_read_out", False, "an option"),
                )
            )
        if sum(o.other_specify for o in options) > 1:
            self.err(seq.pos, f"{what} has more than one other_specify option")
        return ChoiceList(name, tuple(options), seq.pos) if options else None

    def yesno_list(self, pos: Position) -> ChoiceList:
        labels_by_lang = {
            lang: YESNO_LABELS.get(lang.split("-")[0], YESNO_LABELS["en"])
            for lang in self.languages
        }
        options = []
        for index, code in enumerate((1, 2)):
            by_language = {
                lang: TextTemplate.compile(labels[index], self.html_env, self.plain_env)
                for lang, labels in labels_by_lang.items()
            }
            options.append(Option(code=code, label=Text(by_language, pos)))
        return ChoiceList("yes_no", tuple(options), pos)

    def resolve_choices(self, q: YMap, what: str) -> ChoiceList | None:
        node = q.get("choices")
        if node is None:
            return None
        if isinstance(node, YScalar):
            name = node.value
            if not isinstance(name, str) or name not in self.choices:
                self.err(
                    node.pos,
                    f"{what}: unknown choice list '{name}'{did_you_mean(str(name), self.choices)}",
                )
                return None
            return self.choices[name]
        qid = q.get("id").value if isinstance(q.get("id"), YScalar) else "question"
        return self.choice_list(node, f"{qid}", f"the choices of {what}")

    # ----- preload and experiments -----

    def read_preload(self, node: YNode | None) -> tuple[Preload, ...]:
        seq = self.expect_seq(node, "preload")
        result = []
        for item in seq or ():
            m = self.expect_map(item, "a preload variable", item.pos)
            if m is None:
                continue
            self.check_keys(m, PRELOAD_KEYS, "a preload variable", required=("id", "type"))
            pid = self.scalar(m.get("id"), str, "a preload id")
            ptype = self.scalar(m.get("type"), str, "a preload type")
            if pid is None or ptype is None:
                continue
            if ptype not in PRELOAD_TYPES:
                self.err(
                    m.where("type"),
                    f"preload type must be one of {', '.join(PRELOAD_TYPES)}{did_you_mean(ptype, PRELOAD_TYPES)}",
                )
                continue
            if not self.register_name(pid, m.where("id"), f"preload '{pid}'"):
                continue
            choices = self.resolve_choices(m, f"preload '{pid}'") if ptype == "single" else None
            if ptype == "single" and choices is None:
                self.err(m.pos, f"preload '{pid}' of type single needs 'choices'")
            label = self.scalar(m.get("label"), str, "a preload label") or pid
            self.check_label_length(label, m.where("label"))
            p = Preload(
                pid, ptype, label, m.pos, choices, self.boolean(m, "export", True, "a preload")
            )
            result.append(p)
            self.vars[pid] = _VarMeta(
                VarInfo(
                    pid,
                    VALUE_TYPE_OF[ptype],
                    choices.codes if choices else None,
                    None,
                    _labels(choices, self.default_language),
                    label,
                ),
                0,
                "preload",
                m.pos,
            )
        return tuple(result)

    def read_experiments(self, node: YNode | None) -> tuple[Experiment, ...]:
        seq = self.expect_seq(node, "experiments")
        result = []
        for item in seq or ():
            m = self.expect_map(item, "an experiment", item.pos)
            if m is None:
                continue
            self.check_keys(m, EXPERIMENT_KEYS, "an experiment", required=("id", "arms"))
            eid = self.scalar(m.get("id"), str, "an experiment id")
            if eid is None or not self.register_name(eid, m.where("id"), f"experiment '{eid}'"):
                continue
            arms = (
                self.choice_list(m.get("arms"), eid, f"the arms of experiment '{eid}'")
                if m.get("arms")
                else None
            )
            if arms is None:
                continue
            if len(arms.options) < 2:
                self.err(m.where("arms"), f"experiment '{eid}' needs at least two arms")
            label = (
                self.scalar(m.get("label"), str, "an experiment label")
                or f"Split-ballot arm: {eid}"
            )
            result.append(Experiment(eid, label, arms, m.pos))
            self.vars[eid] = _VarMeta(
                VarInfo(
                    eid,
                    ValueType.CODE,
                    arms.codes,
                    None,
                    _labels(arms, self.default_language),
                    label,
                ),
                0,
                "experiment",
                m.pos,
            )
        return tuple(result)

    # ----- pass 1: scan -----

    def item_kind(self, m: YMap) -> str | None:
        kinds = [k for k in CONTAINER_KEYS if k in m]
        if "type" in m or "id" in m:
            kinds.append("question")
        if len(kinds) > 1:
            self.err(
                m.pos,
                f"an item must be one thing, but this has {' and '.join(repr(k) for k in kinds)}",
            )
            return None
        if not kinds:
            self.err(
                m.pos,
                "an item needs 'id' and 'type' (a question) or one of 'section', 'page', 'block', 'loop'",
            )
            return None
        return kinds[0]

    def container_id(self, m: YMap, kind: str) -> str | None:
        cid = self.scalar(m.get(kind), str, f"the {kind} id")
        if cid is None:
            return None
        if not SIMPLE_ID.match(cid):
            self.err(
                m.where(kind),
                f"{kind} id '{cid}' must start with a letter and use only letters, digits and underscores",
            )
            return None
        if cid in self.container_ids:
            self.err(
                m.where(kind),
                f"duplicate {kind} id '{cid}' (first at line {self.container_ids[cid].line})",
            )
            return None
        self.container_ids[cid] = m.where(kind)
        return cid

    def scan_items(self, seq: YSeq, loop: str | None, in_page: str | None) -> None:
        for node in seq:
            m = self.expect_map(node, "an item", seq.pos)
            if m is None:
                continue
            kind = self.item_kind(m)
            if kind is None:
                m.entries.clear()
                continue
            if kind == "question":
                self.scan_question(m, loop, in_page)
                continue
            if in_page is not None:
                self.err(
                    m.pos,
                    f"a page holds questions only; a {kind} cannot be inside page '{in_page}'",
                )
                m.entries.clear()
                continue
            self.check_keys(m, CONTAINER_KEYS[kind], f"a {kind}", required=("items",))
            cid = self.container_id(m, kind)
            children = self.expect_seq(m.get("items"), f"the items of {kind} '{cid}'")
            if children is None:
                continue
            if len(children) == 0:
                self.err(children.pos, f"{kind} '{cid}' has no items")
            inner_loop = loop
            if kind == "loop":
                if loop is not None:
                    self.err(m.pos, f"loop '{cid}' is inside loop '{loop}'; loops do not nest")
                elif cid is not None:
                    inner_loop = cid
                    self.loops_raw[cid] = m
            if kind == "page":
                self.page_counter += 1
                page_id = cid or f"page{self.page_counter}"
                m.entries["__page_seq"] = YScalar(self.page_counter, m.pos)
                self.scan_items(children, inner_loop, page_id)
            else:
                self.scan_items(children, inner_loop, None)

    def scan_question(self, m: YMap, loop: str | None, in_page: str | None) -> None:
        qid = self.scalar(m.get("id"), str, "a question id")
        qtype = self.scalar(m.get("type"), str, f"the type of '{qid}'")
        if qid is None or qtype is None:
            if "id" not in m:
                self.err(m.pos, "a question needs 'id'")
            if "type" not in m:
                self.err(m.pos, f"question '{qid}' needs 'type'")
            m.entries.clear()
            return
        if qtype not in QUESTION_TYPES and qtype not in self.custom_types:
            known = QUESTION_TYPES + tuple(self.custom_types)
            self.err(
                m.where("type"),
                f"unknown question type '{qtype}'{did_you_mean(qtype, known)}; types are {', '.join(known)}",
            )
            m.entries.clear()
            return
        if qtype == "computed":
            page_seq = self.page_counter  # known from the current point on
        elif in_page is not None:
            page_seq = self.page_counter
        else:
            self.page_counter += 1
            page_seq = self.page_counter
        if qtype in ("info", "end"):
            if not SIMPLE_ID.match(qid):
                self.err(
                    m.where("id"),
                    f"id '{qid}' must start with a letter and use only letters, digits and underscores",
                )
            elif qid in self.container_ids or qid.lower() in self.lower_names:
                self.err(m.where("id"), f"duplicate id '{qid}'")
            else:
                self.container_ids[qid] = m.where("id")
        elif not self.register_name(qid, m.where("id"), f"question '{qid}'"):
            m.entries.clear()
            return
        self.ordinal_counter += 1
        raw = _RawQuestion(m, qid, qtype, loop, page_seq, self.ordinal_counter, in_page or qid)
        self.raw_questions.append(raw)
        m.entries["__raw"] = YScalar(raw, m.pos)
        self.var_ordinals[qid] = self.ordinal_counter
        if qtype in ("info", "end"):
            return
        what = f"question '{qid}'"
        if qtype == "computed":
            self.vars[qid] = _VarMeta(
                VarInfo(qid, ValueType.INTEGER, None, loop, None, self.raw_label(m)),
                page_seq,
                "computed",
                m.pos,
                m,
            )
            return
        if qtype in self.custom_types:
            value_type = CUSTOM_VALUE_TYPES[self.custom_types[qtype].value_type]
            self.vars[qid] = _VarMeta(
                VarInfo(qid, value_type, None, loop, None, self.raw_label(m)),
                page_seq,
                "question",
                m.pos,
            )
            return
        choices = None
        if qtype == "yesno":
            choices = self.yesno_list(m.pos)
        elif qtype in CHOICE_TYPES:
            choices = self.resolve_choices(m, what)
        m.entries["__choices"] = YScalar(choices, m.pos)
        labels = _labels(choices, self.default_language)
        if qtype == "grid":
            rows = self.expect_seq(m.get("rows"), f"the rows of {what}")
            for row in rows or ():
                rm = self.expect_map(row, f"a row of {what}", m.pos)
                if rm is None:
                    continue
                rid = self.scalar(rm.get("id"), str, "a row id")
                if rid is None or not self.register_name(
                    rid, rm.where("id"), f"row '{rid}' of {what}"
                ):
                    continue
                self.vars[rid] = _VarMeta(
                    VarInfo(
                        rid,
                        ValueType.CODE,
                        choices.codes if choices else None,
                        loop,
                        labels,
                        self.raw_label(rm),
                    ),
                    page_seq,
                    "grid_row",
                    rm.pos,
                )
                self.var_ordinals[rid] = self.ordinal_counter
            return
        self.vars[qid] = _VarMeta(
            VarInfo(
                qid,
                VALUE_TYPE_OF[qtype],
                choices.codes if choices else None,
                loop,
                labels,
                self.raw_label(m),
            ),
            page_seq,
            "question",
            m.pos,
        )

    def raw_label(self, m: YMap) -> str | None:
        """A variable's short label before texts are compiled (for describe())."""
        node = m.get("label") or m.get("text")
        value = node.value if isinstance(node, YScalar) else None
        if value is None and isinstance(node, YMap):
            inner = node.get(self.default_language)
            value = inner.value if isinstance(inner, YScalar) else None
        return _plain_label(str(value)) if isinstance(value, (str, int, float)) else None

    def precompile_computed(self) -> None:
        """Give computed variables their types before anything reads them.

        A computed variable may use another defined further down, so types are
        settled by compiling repeatedly until nothing changes (cycles stop it).
        """
        pending = [n for n, meta in self.vars.items() if meta.kind == "computed"]
        for _ in range(len(pending) + 1):
            changed = False
            for name in pending:
                meta = self.vars[name]
                node = meta.computed_node.get("expr") if meta.computed_node else None
                if not isinstance(node, YScalar) or not isinstance(node.value, (str, int, float)):
                    continue
                scope = Scope(
                    {n: m.info for n, m in self.vars.items() if n != name}, loop=meta.info.loop
                )
                try:
                    compiled = compile_expression(str(node.value), scope, None)
                except ExpressionError:
                    continue
                self.computed_deps[name] = compiled.references
                if compiled.type != meta.info.type:
                    self._infos_dirty = True
                    self.vars[name] = _VarMeta(
                        VarInfo(name, compiled.type, None, meta.info.loop, None, meta.info.label),
                        meta.page_seq,
                        "computed",
                        meta.node_pos,
                        meta.computed_node,
                    )
                    changed = True
            if not changed:
                break

    # ----- pass 2: build -----

    def build_items(self, seq: YSeq, loop: str | None) -> list[Item]:
        result: list[Item] = []
        for node in seq:
            if not isinstance(node, YMap) or not node.entries:
                continue
            if "__raw" in node:
                raw: _RawQuestion = node.get("__raw").value
                question = self.build_question(raw)
                if question is None or question.type == "computed":
                    continue
                page = Page(question.id, (question,), node.pos, None, True, loop)
                self.pages[page.id] = page
                result.append(page)
                continue
            kind = next(k for k in CONTAINER_KEYS if k in node)
            cid = node.get(kind).value if isinstance(node.get(kind), YScalar) else None
            children = node.get("items")
            if not isinstance(children, YSeq):
                continue
            first_page = self.first_page_seq(children)
            site = _Site(loop, first_page)
            when = self.expression(node.get("when"), f"the condition of {kind} '{cid}'", site)
            if kind == "page":
                questions = []
                for child in children:
                    if isinstance(child, YMap) and "__raw" in child:
                        q = self.build_question(child.get("__raw").value)
                        if q is not None and q.type != "computed":
                            questions.append(q)
                if any(q.type == "end" for q in questions) and len(questions) > 1:
                    self.err(
                        node.pos,
                        f"page '{cid}' mixes an end with other questions; an end stands on its own page",
                    )
                page = Page(str(cid), tuple(questions), node.pos, when, False, loop)
                if questions:
                    self.pages[page.id] = page
                    result.append(page)
            elif kind == "section":
                title = self.text(node.get("title"), f"the title of section '{cid}'", site)
                result.append(
                    Section(
                        str(cid), tuple(self.build_items(children, loop)), node.pos, title, when
                    )
                )
            elif kind == "block":
                randomize = self.boolean(node, "randomize", False, f"block '{cid}'")
                result.append(
                    Block(
                        str(cid), tuple(self.build_items(children, loop)), node.pos, when, randomize
                    )
                )
            elif kind == "loop":
                built = self.build_loop(node, str(cid), children, when, site)
                if built is not None:
                    result.append(built)
        return result

    def first_page_seq(self, seq: YSeq) -> int:
        for node in seq:
            if isinstance(node, YMap):
                if "__raw" in node and node.get("__raw").value.type != "computed":
                    return node.get("__raw").value.page_seq
                if "__page_seq" in node:
                    return node.get("__page_seq").value
                if isinstance(node.get("items"), YSeq):
                    found = self.first_page_seq(node.get("items"))
                    if found:
                        return found
        return self.page_counter + 1

    def build_loop(
        self, node: YMap, cid: str, children: YSeq, when: CompiledExpression | None, site: _Site
    ) -> Loop | None:
        has_count, has_each = "count" in node, "for_each" in node
        if has_count == has_each:
            self.err(node.pos, f"loop '{cid}' needs exactly one of 'count' or 'for_each'")
            return None
        count = None
        for_each = None
        if has_count:
            count = self.expression(
                node.get("count"), f"the count of loop '{cid}'", site, ValueType.INTEGER
            )
            max_iter = self.scalar(node.get("max"), int, f"the max of loop '{cid}'")
            if "max" not in node:
                self.err(
                    node.pos,
                    f"loop '{cid}' needs 'max', the most iterations (it fixes the width of exported files)",
                )
                max_iter = None
            elif max_iter is not None and not 1 <= max_iter <= 99:
                self.err(node.where("max"), f"the max of loop '{cid}' must be between 1 and 99")
                max_iter = None
        else:
            name = self.scalar(node.get("for_each"), str, f"the for_each of loop '{cid}'")
            meta = self.vars.get(name) if name else None
            max_iter = None
            if name is not None and meta is None:
                self.err(
                    node.where("for_each"),
                    f"loop '{cid}' is for each '{name}', which is not a question{did_you_mean(name, self.vars)}",
                )
            elif meta is not None and (
                meta.kind != "question" or meta.info.type != ValueType.CODES
            ):
                self.err(
                    node.where("for_each"),
                    f"loop '{cid}' can only be for each answer of a multiple-choice question, and '{name}' is not one",
                )
            elif meta is not None and meta.page_seq >= site.page_seq:
                self.err(
                    node.where("for_each"),
                    f"loop '{cid}' is for each answer of '{name}', which is asked later",
                )
            elif meta is not None:
                for_each = name
                max_iter = len(meta.info.codes or ())
            if "max" in node:
                self.err(
                    node.where("max"),
                    f"a for_each loop takes its size from the question; remove 'max' from loop '{cid}'",
                )
        self.loop_max[cid] = max_iter or 1
        loop = Loop(
            cid,
            tuple(self.build_items(children, cid)),
            node.pos,
            max_iter or 1,
            count,
            for_each,
            when,
        )
        self.loops[cid] = loop
        return loop

    def build_question(self, raw: _RawQuestion) -> Question | None:
        if raw.id in self.questions:
            return self.questions[raw.id]
        m, qtype = raw.node, raw.type
        what = f"question '{raw.id}'"
        other_types = {
            key: f" ({_types_with(key)} questions use it)"
            for t in TYPE_KEYS
            for key in TYPE_KEYS[t]
        }
        custom = self.custom_types.get(qtype)
        allowed = COMMON_QUESTION_KEYS + TYPE_KEYS.get(qtype, ())
        if qtype in ("info", "end"):
            allowed = ("id", "type", "when", *TEXT_ROLES) + TYPE_KEYS[qtype]
        if qtype == "computed":
            allowed = ("id", "type", "label", "when", "level", "expr")
        visible = {k: v for k, v in m.entries.items() if not k.startswith("__")}
        probe = YMap(visible, m.key_pos, m.pos)
        required = ["text"] if qtype != "computed" else ["expr"]
        if qtype in ("single", "multi", "grid"):
            required.append("choices")
        if qtype == "grid":
            required.append("rows")
        self.check_keys(
            probe, allowed, f"{what} ({qtype})", required=required, elsewhere=other_types
        )

        own_site = _Site(raw.loop, raw.page_seq)
        check_site = _Site(raw.loop, raw.page_seq, same_page_ok=True)
        texts = {
            role: self.text(m.get(role), f"the {role.replace('_', ' ')} of {what}", own_site)
            for role in TEXT_ROLES
        }
        when = self.expression(m.get("when"), f"the condition of {what}", own_site)
        choices = m.get("__choices").value if "__choices" in m else None
        label = self.question_label(m, texts["text"], raw.id)

        kwargs: dict[str, Any] = dict(
            id=raw.id,
            type=qtype,
            pos=m.pos,
            label=label,
            when=when,
            loop=raw.loop,
            ordinal=raw.ordinal,
            custom=custom,
            **texts,
        )
        if qtype == "computed":
            expr = self.expression(m.get("expr"), f"the expression of {what}", None, None)
            kwargs["expr"] = expr
            if expr is not None:
                kwargs["level"] = self.level(
                    m, "scale" if expr.type in (ValueType.INTEGER, ValueType.DECIMAL) else "nominal"
                )
            q = Question(**kwargs)
            self.questions[raw.id] = q
            return q
        if qtype not in ("info", "end"):
            kwargs["required"] = self.boolean(m, "required", False, what)
            kwargs["allow_dk"] = self.boolean(m, "dk", True, what) and not kwargs["required"]
            kwargs["allow_refused"] = (
                self.boolean(m, "refused", True, what) and not kwargs["required"]
            )
            kwargs["checks"] = self.read_checks(m, what, check_site)
            numeric = ("integer", "decimal", "date") if custom is None else ()
            default_level = (
                "scale"
                if qtype in numeric
                or (custom is not None and custom.value_type in ("int", "float"))
                else "nominal"
            )
            kwargs["level"] = self.level(m, default_level)
        kwargs["choices"] = choices
        if qtype in ("single", "multi"):
            kwargs["randomize"] = self.boolean(m, "randomize", False, what)
        if qtype == "single":
            display = self.scalar(m.get("display"), str, f"the display of {what}") or "radio"
            if display not in ("radio", "dropdown"):
                self.err(
                    m.where("display"),
                    f"display must be radio or dropdown{did_you_mean(display, ('radio', 'dropdown'))}",
                )
            kwargs["display"] = display
        if qtype == "multi":
            kwargs["min_choices"], kwargs["max_choices"] = self.bounds(
                m, what, int, "min_choices", "max_choices"
            )
            if (
                choices is not None
                and kwargs["max_choices"] is not None
                and kwargs["max_choices"] > len(choices.options)
            ):
                self.warn(
                    m.where("max_choices"),
                    f"max_choices of {what} is more than its {len(choices.options)} options",
                )
        if qtype in ("integer", "decimal"):
            kind = int if qtype == "integer" else (int, float)
            kwargs["min"], kwargs["max"] = self.bounds(m, what, kind, "min", "max")
            kwargs["unit"] = self.text(m.get("unit"), f"the unit of {what}", None)
        if qtype == "decimal":
            places = self.scalar(m.get("places"), int, f"the places of {what}")
            kwargs["places"] = 2 if places is None else places
        if qtype in ("text", "long_text"):
            max_length = self.scalar(m.get("max_length"), int, f"the max_length of {what}")
            if max_length is not None and max_length < 1:
                self.err(m.where("max_length"), "max_length must be at least 1")
            kwargs["max_length"] = max_length or DEFAULT_MAX_LENGTH[qtype]
        if qtype == "date":
            kwargs["min"], kwargs["max"] = self.date_bounds(m, what)
        if qtype == "grid":
            kwargs["rows"] = self.read_rows(m, what, own_site)
            kwargs["randomize_rows"] = self.boolean(m, "randomize_rows", False, what)
        if qtype == "end":
            outcome = self.scalar(m.get("outcome"), str, f"the outcome of {what}") or "complete"
            if outcome not in OUTCOMES:
                self.err(
                    m.where("outcome"),
                    f"outcome must be one of {', '.join(OUTCOMES)}{did_you_mean(outcome, OUTCOMES)}",
                )
            kwargs["outcome"] = outcome
        if choices is not None and qtype == "single" and any(o.exclusive for o in choices.options):
            self.warn(
                m.where("choices"),
                f"'exclusive' only matters in a multiple choice; {what} is a single choice",
            )
        q = Question(**kwargs)
        self.questions[raw.id] = q
        return q

    def question_label(self, m: YMap, text: Text | None, qid: str) -> str:
        label = self.scalar(m.get("label"), str, f"the label of '{qid}'")
        if label is not None:
            self.check_label_length(label, m.where("label"))
            return label
        if text is not None:
            return _plain_label(text.source(self.default_language, self.default_language))
        return qid

    def check_label_length(self, label: str, pos: Position) -> None:
        if len(label) > MAX_VARIABLE_LABEL["SPSS"]:
            self.warn(
                pos,
                f"this label is {len(label)} characters; SPSS variable labels hold 256 and Stata's 80, so exports will shorten it",
            )
        elif len(label) > MAX_VARIABLE_LABEL["Stata"]:
            self.warn(
                pos,
                f"this label is {len(label)} characters; Stata variable labels hold 80, so the Stata export will shorten it",
            )

    def level(self, m: YMap, default: str) -> str:
        level = self.scalar(m.get("level"), str, "the level")
        if level is None:
            return default
        if level not in LEVELS:
            self.err(
                m.where("level"),
                f"level must be one of {', '.join(LEVELS)}{did_you_mean(level, LEVELS)}",
            )
            return default
        return level

    def bounds(self, m: YMap, what: str, kind: Any, low_key: str, high_key: str) -> tuple[Any, Any]:
        low = self.scalar(m.get(low_key), kind, f"the {low_key} of {what}")
        high = self.scalar(m.get(high_key), kind, f"the {high_key} of {what}")
        if low is not None and high is not None and low > high:
            self.err(m.where(low_key), f"{what} has {low_key} {low} above {high_key} {high}")
        return low, high

    def date_bounds(self, m: YMap, what: str) -> tuple[Any, Any]:
        result = []
        for key in ("min", "max"):
            node = m.get(key)
            if node is None:
                result.append(None)
                continue
            value = node.value if isinstance(node, YScalar) else None
            if value == "today" or isinstance(value, dt.date):
                result.append(value)
                continue
            try:
                result.append(dt.date.fromisoformat(str(value)))
            except ValueError:
                self.err(node.pos, f"the {key} of {what} must be a date like 2024-01-31, or today")
                result.append(None)
        low, high = result
        if isinstance(low, dt.date) and isinstance(high, dt.date) and low > high:
            self.err(m.where("min"), f"{what} has min {low} after max {high}")
        return low, high

    def read_checks(self, m: YMap, what: str, site: _Site) -> tuple[Check, ...]:
        seq = self.expect_seq(m.get("checks"), f"the checks of {what}")
        checks = []
        for index, node in enumerate(seq or ()):
            cm = self.expect_map(node, f"a check of {what}", m.pos)
            if cm is None:
                continue
            self.check_keys(cm, CHECK_KEYS, f"a check of {what}", required=("message",))
            kinds = [k for k in ("error_if", "warn_if") if k in cm]
            if len(kinds) != 1:
                self.err(
                    cm.pos,
                    f"a check of {what} needs exactly one of error_if (a hard check) or warn_if (a soft check)",
                )
                continue
            condition = self.expression(cm.get(kinds[0]), f"the {kinds[0]} check of {what}", site)
            message = self.text(cm.get("message"), f"the message of a check of {what}", site)
            if condition is not None and message is not None:
                severity = "error" if kinds[0] == "error_if" else "warning"
                checks.append(Check(severity, condition, message, index))
        return tuple(checks)

    def read_rows(self, m: YMap, what: str, site: _Site) -> tuple[GridRow, ...]:
        seq = self.expect_seq(m.get("rows"), f"the rows of {what}")
        rows = []
        for node in seq or ():
            if not isinstance(node, YMap):
                continue
            self.check_keys(node, ROW_KEYS, f"a row of {what}", required=("id", "text"))
            rid = node.get("id").value if isinstance(node.get("id"), YScalar) else None
            if not isinstance(rid, str) or rid not in self.vars:
                continue
            text = self.text(node.get("text"), f"the text of row '{rid}'", site)
            if text is None:
                continue
            label = self.scalar(node.get("label"), str, f"the label of row '{rid}'")
            if label is not None:
                self.check_label_length(label, node.where("label"))
            rows.append(
                GridRow(
                    id=rid,
                    text=text,
                    label=label
                    or _plain_label(text.source(self.default_language, self.default_language)),
                    read_out=self.text(node.get("read_out"), f"the read_out of row '{rid}'", site),
                    ivr=self.text(node.get("ivr"), f"the ivr text of row '{rid}'", site),
                    when=self.expression(node.get("when"), f"the condition of row '{rid}'", site),
                )
            )
        if seq is not None and not rows and len(seq):
            self.err(seq.pos, f"{what} has no usable rows")
        return tuple(rows)

    # ----- whole-questionnaire checks -----

    def check_computed_cycles(self) -> None:
        graph = {
            n: {d for d in deps if self.vars.get(d) and self.vars[d].kind == "computed"}
            for n, deps in self.computed_deps.items()
        }
        state: dict[str, int] = {}
        reported: set[frozenset[str]] = set()

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            path.append(node)
            for dep in sorted(graph.get(node, ())):
                if state.get(dep) == 1:
                    cycle = path[path.index(dep) :] + [dep]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.err(
                            self.vars[dep].node_pos,
                            "computed variables depend on each other in a circle: "
                            + " -> ".join(cycle),
                        )
                elif state.get(dep) is None:
                    visit(dep, path)
            path.pop()
            state[node] = 2

        for name in sorted(graph):
            if state.get(name) is None:
                visit(name, [])

    def check_generated_names(self) -> None:
        """Names the exports will generate (loop suffixes, option dummies, other text) must be free."""
        for q in self.questions.values():
            generated: list[str] = []
            bases = list(q.variable_names)
            if q.type == "multi" and q.choices is not None:
                bases = [f"{q.id}_{o.code}" for o in q.choices.options]
            if q.other_option is not None:
                bases.append(f"{q.id}_other")
            if q.loop is not None:
                loop_max = self.loop_max.get(q.loop, 1)
                loop = self.loops.get(q.loop)
                suffixes = [str(i) for i in range(1, loop_max + 1)]
                if loop is not None and loop.for_each is not None:
                    choices = self.questions[loop.for_each].choices
                    suffixes = [str(o.code) for o in choices.options] if choices else []
                generated = [f"{b}_{s}" for b in bases for s in suffixes]
            else:
                generated = [b for b in bases if b not in q.variable_names]
            for name in generated:
                if name.lower() in self.lower_names:
                    self.err(
                        q.pos,
                        f"'{name}', which the exports make for '{q.id}', is already the name of another variable",
                    )
                problem = name_problem(name)
                if problem:
                    self.err(
                        q.pos,
                        f"the exports would name a variable of '{q.id}' {problem}; shorten the id",
                    )
                    break

    # ----- tests -----

    def read_tests(self, node: YNode | None) -> tuple[Scenario, ...]:
        seq = self.expect_seq(node, "tests")
        scenarios = []
        names: set[str] = set()
        answerable = set(self.vars) | {
            f"{q.id}_other" for q in self.questions.values() if q.other_option
        }
        for item in seq or ():
            m = self.expect_map(item, "a test", item.pos)
            if m is None:
                continue
            self.check_keys(m, SCENARIO_KEYS, "a test", required=("name", "answers"))
            name = self.scalar(m.get("name"), str, "a test name") or f"test at line {m.pos.line}"
            if name in names:
                self.err(m.where("name"), f"two tests are called '{name}'")
            names.add(name)
            answers = self.expect_map(m.get("answers"), f"the answers of test '{name}'", m.pos)
            answer_pos = {}
            for key in answers.keys() if answers else ():
                answer_pos[key] = answers.where(key)
                meta = self.vars.get(key)
                if key not in answerable or (
                    meta and meta.kind in ("preload", "computed", "experiment")
                ):
                    self.err(
                        answers.where(key),
                        f"test '{name}' answers '{key}', which is not a question{did_you_mean(key, answerable)}",
                    )
            preload = self.expect_map(m.get("preload"), f"the preload of test '{name}'", m.pos)
            for key in preload.keys() if preload else ():
                if key not in self.vars or self.vars[key].kind != "preload":
                    self.err(
                        preload.where(key),
                        f"test '{name}' preloads '{key}', which is not a preload variable",
                    )
            mode = self.scalar(m.get("mode"), str, "a test mode") or "web"
            if mode not in MODES:
                self.err(m.where("mode"), f"unknown mode '{mode}'{did_you_mean(mode, MODES)}")
            language = self.scalar(m.get("language"), str, "a test language")
            if language is not None and language not in self.languages:
                self.err(m.where("language"), f"language '{language}' is not in meta.languages")
            expect = self.expect_map(m.get("expect"), f"the expectations of test '{name}'", m.pos)
            expect_pos = {}
            if expect is not None:
                self.check_keys(expect, EXPECT_KEYS, f"the expectations of test '{name}'")
                for key in ("asked", "not_asked", "errors"):
                    for entry in self.expect_seq(expect.get(key), f"expect.{key}") or ():
                        if (
                            isinstance(entry, YScalar)
                            and entry.value not in self.vars
                            and entry.value not in self.questions
                            and entry.value not in self.container_ids
                        ):
                            self.err(
                                entry.pos,
                                f"expect.{key} names '{entry.value}', which is not a question{did_you_mean(str(entry.value), self.vars)}",
                            )
                values = self.expect_map(expect.get("values"), "expect.values", expect.pos)
                for key in values.keys() if values else ():
                    if key not in self.vars and key.rsplit("_", 1)[0] not in self.vars:
                        self.err(
                            values.where(key),
                            f"expect.values names '{key}', which is not a variable{did_you_mean(key, self.vars)}",
                        )
                outcome = expect.get("outcome")
                if isinstance(outcome, YScalar) and outcome.value not in OUTCOMES + ("partial",):
                    self.err(outcome.pos, f"expect.outcome must be one of {', '.join(OUTCOMES)}")
                expect_pos = {k: expect.where(k) for k in expect.keys()}
            seed = self.scalar(m.get("seed"), int, "a test seed")
            scenarios.append(
                Scenario(
                    name=name,
                    pos=m.pos,
                    answers=answers.plain() if answers else {},
                    answer_pos=answer_pos,
                    preload=preload.plain() if preload else {},
                    seed=1 if seed is None else seed,
                    mode=mode,
                    language=language,
                    confirm_warnings=self.boolean(m, "confirm_warnings", True, "a test"),
                    expect=expect.plain() if expect else {},
                    expect_pos=expect_pos,
                )
            )
        return tuple(scenarios)

    # ----- the variable table -----

    def make_variables(
        self, preload: tuple[Preload, ...], experiments: tuple[Experiment, ...]
    ) -> dict[str, Variable]:
        variables: dict[str, Variable] = {}
        for p in preload:
            variables[p.id] = Variable(
                p.id, "preload", VALUE_TYPE_OF[p.type], p.label, 0, p.choices, None, None, p.export
            )
        for e in experiments:
            variables[e.id] = Variable(e.id, "experiment", ValueType.CODE, e.label, 0, e.arms)
        for q in sorted(self.questions.values(), key=lambda q: q.ordinal):
            if q.type == "grid":
                for row in q.rows:
                    variables[row.id] = Variable(
                        row.id,
                        "grid_row",
                        ValueType.CODE,
                        row.label,
                        q.ordinal,
                        q.choices,
                        q.loop,
                        q,
                    )
            elif q.type == "computed":
                vtype = q.expr.type if q.expr else ValueType.INTEGER
                variables[q.id] = Variable(
                    q.id, "computed", vtype, q.label, q.ordinal, None, q.loop, q
                )
            elif q.stores_value:
                vtype = (
                    CUSTOM_VALUE_TYPES[q.custom.value_type]
                    if q.custom is not None
                    else VALUE_TYPE_OF[q.type]
                )
                variables[q.id] = Variable(
                    q.id, "question", vtype, q.label, q.ordinal, q.choices, q.loop, q
                )
                if q.other_option is not None:
                    name = f"{q.id}_other"
                    variables[name] = Variable(
                        name,
                        "other_text",
                        ValueType.TEXT,
                        f"{q.label}: other (specify)",
                        q.ordinal,
                        None,
                        q.loop,
                        q,
                    )
        return variables


# --- module helpers -------------------------------------------------------------


def _labels(choices: ChoiceList | None, language: str) -> dict[int, str] | None:
    if choices is None:
        return None
    return {o.code: o.label.source(language, language) for o in choices.options}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _types_with(key: str) -> str:
    return ", ".join(t for t, keys in TYPE_KEYS.items() if key in keys)


_TAGS = re.compile(r"<[^>]+>|\{\{.*?\}\}|\{%.*?%\}", re.S)


def _plain_label(text: str) -> str:
    """A variable label from question text: fills and markup removed, whitespace folded."""
    return " ".join(_TAGS.sub("…", text).split())
