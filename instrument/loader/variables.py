"""The whole questionnaire: computed variables in a circle, names the exports would make, the variable table."""

from __future__ import annotations

from instrument.expressions import ValueType
from instrument.model import (
    VALUE_TYPE_OF,
    Experiment,
    Preload,
    Variable,
    VariableTable,
    every_loop_suffix,
)
from instrument.names import name_problem

from .shapes import Shapes
from .vocabulary import CUSTOM_VALUE_TYPES


class Variables(Shapes):
    """Checks that need the whole questionnaire, and the variable table it ends with."""

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
                suffixes = every_loop_suffix(self.loops, self.questions, q.loop)
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

    def make_variables(
        self, preload: tuple[Preload, ...], experiments: tuple[Experiment, ...]
    ) -> VariableTable:
        variables = VariableTable()
        variables.loop_chains = {lid: tuple(self.loops_around(lid)) for lid in self.loops}
        variables.loop_lists = dict(self.loop_lists)
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
                    q.id,
                    "question",
                    vtype,
                    q.label,
                    q.ordinal,
                    q.choices,
                    q.loop,
                    q,
                    q.id not in self.list_another,  # "anyone else?" steers, it is not data
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
