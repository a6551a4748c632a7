"""Choice lists, preload variables and experiments: the values known before the first question."""

from __future__ import annotations

from typing import Any

from instrument.diagnostics import Position, did_you_mean
from instrument.expressions import ValueType, VarInfo
from instrument.model import VALUE_TYPE_OF, ChoiceList, Experiment, Option, Preload, Text
from instrument.names import MAX_VALUE_LABEL
from instrument.texts import TextTemplate
from instrument.yamlsrc import YMap, YNode, YScalar, YSeq

from .choice_files import ChoiceFiles
from .state import VarMeta
from .vocabulary import (
    EXPERIMENT_KEYS,
    OPTION_KEYS,
    PRELOAD_KEYS,
    PRELOAD_TYPES,
    SIMPLE_ID,
    option_labels,
)


class Choices(ChoiceFiles):
    """Choice lists (named or inline), preload variables and experiments."""

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
            else:
                self.broken_lists.add(name)

    def choice_list(self, node: YNode, name: str, what: str) -> ChoiceList | None:
        if isinstance(node, YMap) and "file" in node:
            return self.choice_file(node, name, what)
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
            label = self.text(om.get("label"), f"the label of option {code} in {what}", None)
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
                    read_out=self.text(
                        om.get("read_out"), f"read_out of option {code} in {what}", None
                    ),
                    exclusive=self.boolean(om, "exclusive", False, "an option"),
                    other_specify=self.boolean(om, "other_specify", False, "an option"),
                    fixed=self.boolean(om, "fixed", False, "an option"),
                    not_read_out=self.boolean(om, "not_read_out", False, "an option"),
                    attributes=self.option_attributes(om.get("attributes"), code),
                    pos=om.pos,
                )
            )
        if sum(o.other_specify for o in options) > 1:
            self.err(seq.pos, f"{what} has more than one other_specify option")
        return ChoiceList(name, tuple(options), seq.pos) if options else None

    def option_attributes(self, node: YNode | None, code: int) -> tuple[tuple[str, Any], ...]:
        """An option's attributes for choice filters: names to a number, a text, or a list of them."""
        m = self.expect_map(node, f"the attributes of option {code}", node.pos) if node else None
        if m is None:
            return ()
        result = []
        for name, value_node in m.items():
            if not SIMPLE_ID.match(name):
                self.err(m.where(name), f"attribute name '{name}' must be a simple name")
                continue
            value = _attribute_value(value_node)
            if value is None:
                self.err(
                    value_node.pos,
                    f"attribute '{name}' of option {code} must be a whole number, a text, or a list of them",
                )
                continue
            result.append((name, value))
        return tuple(result)

    def yesno_list(self, pos: Position) -> ChoiceList:
        """The built-in yes/no list, labelled from the interface texts (a researcher's own too)."""
        words = self.interface_texts.domain("questionnaire")
        labels_by_lang = {lang: (words(lang, "yes"), words(lang, "no")) for lang in self.languages}
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
            if name in self.broken_lists:
                return None
            if not isinstance(name, str) or name not in self.choices:
                self.err(
                    node.pos,
                    f"{what}: unknown choice list '{name}'{did_you_mean(str(name), self.choices)}",
                )
                return None
            return self.choices[name]
        qid = q.get("id").value if isinstance(q.get("id"), YScalar) else "question"
        return self.choice_list(node, f"{qid}", f"the choices of {what}")

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
            self.vars[pid] = VarMeta(
                VarInfo(
                    pid,
                    VALUE_TYPE_OF[ptype],
                    choices.codes if choices else None,
                    None,
                    option_labels(choices, self.default_language),
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
            self.vars[eid] = VarMeta(
                VarInfo(
                    eid,
                    ValueType.CODE,
                    arms.codes,
                    None,
                    option_labels(arms, self.default_language),
                    label,
                ),
                0,
                "experiment",
                m.pos,
            )
        return tuple(result)


def _attribute_value(node: YNode) -> Any:
    """A scalar attribute (int or text) or a tuple of them; None when it is neither."""
    if isinstance(node, YSeq):
        values = [_attribute_value(item) for item in node]
        if not values or any(v is None or isinstance(v, tuple) for v in values):
            return None
        return tuple(values)
    value = node.value if isinstance(node, YScalar) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return value
