"""``tests:``: scenarios (answers, preloads, expectations) that ``instrument test`` runs."""

from __future__ import annotations

from instrument.diagnostics import did_you_mean
from instrument.model import Scenario, every_loop_suffix
from instrument.yamlsrc import YNode, YScalar

from .shapes import Shapes
from .vocabulary import EXPECT_KEYS, OUTCOMES, SCENARIO_KEYS


class Scenarios(Shapes):
    """The ``tests:`` section: scenarios checked against the questionnaire they test."""

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
                base = key if key in answerable else self.suffixed_base(key)  # age_1_3: age
                meta = self.vars.get(base or "")
                if self.is_broken(key):
                    continue  # its own error was reported
                if base not in answerable or (
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
            mode = self.scalar(m.get("mode"), str, "a test mode") or self.modes[0]
            if mode not in self.modes:
                self.err(
                    m.where("mode"),
                    f"test '{name}' runs in mode '{mode}', which meta.modes does not list "
                    f"({', '.join(self.modes)}){did_you_mean(mode, self.modes)}",
                )
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
                            and not self.is_broken(str(entry.value))
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
                    if (
                        key not in self.vars
                        and not self.is_broken(key)
                        and key.rsplit("_", 1)[0] not in self.vars  # q_1 of a multi, q_other
                        and self.suffixed_base(key) is None  # age_2_3 in loops inside loops
                    ):
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

    def is_broken(self, key: str) -> bool:
        """Whether ``key`` is, or is a key of, a question whose own error was reported."""
        broken = self.broken_names
        return bool(broken) and (
            key in broken or any(key.startswith(name + "_") for name in broken)
        )

    def suffixed_base(self, key: str) -> str | None:
        """The loop variable whose key in one iteration ``key`` is (``age_2_3``: ``age``), if any."""
        base, _, suffix = key.partition("_")
        while suffix:
            meta = self.vars.get(base)
            question = self.questions.get(base.removesuffix("_other"))
            loop = meta.info.loop if meta is not None else question.loop if question else None
            if loop is not None and suffix in every_loop_suffix(self.loops, self.questions, loop):
                return base
            head, _, suffix = suffix.partition("_")
            base = f"{base}_{head}"
        return None
