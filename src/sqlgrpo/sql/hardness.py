"""Spider's difficulty classes (easy, medium, hard, extra), computed from a gold query on sqlglot.

`prepare` labels every Spider question with the class the official evaluation would give it
(`Evaluator.eval_hardness` in taoyds/spider's `evaluation.py`), so that metrics can be broken
down the way Spider results are reported. The official rules count three things on the parse of
the outermost SELECT (nested queries are not looked into, only counted):

- component 1: WHERE, GROUP BY, ORDER BY and LIMIT present (one each), one per JOIN (each FROM
  item past the first), one per OR and one per LIKE in the ON, WHERE and HAVING conditions;
- component 2: the subqueries used as values in those conditions, plus one for a set operation
  (UNION, INTERSECT, EXCEPT);
- others: one each for more than one aggregate, more than one SELECT item, more than one WHERE
  condition, more than one GROUP BY item.

The official parser stores a condition as `(not_op, op, value, ...)` and its connectors as the
strings "and"/"or" in the same list, and the aggregate count tests `unit[0] != 0` over both. So
a negated WHERE condition counts as an aggregate, and in HAVING every negated condition and every
AND/OR does too, while the aggregate a HAVING condition compares does not. Those are the labels
Spider's published numbers use, so they are reproduced here as they are.

    >>> spider_hardness("SELECT count(*) FROM singer")
    'easy'
    >>> spider_hardness("SELECT name FROM singer WHERE age > 20 ORDER BY age")
    'medium'
    >>> spider_hardness("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)")
    'hard'
    >>> spider_hardness("SELECT T1.name, count(*) FROM singer AS T1 JOIN concert AS T2 "
    ...                 "ON T1.id = T2.singer_id GROUP BY T1.id ORDER BY count(*) DESC LIMIT 1")
    'extra'

A text sqlglot cannot parse, or one that is not a query (DML), has no class (None).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from sqlgrpo.sql.analysis import parse_any

HARDNESS_LEVELS = ("easy", "medium", "hard", "extra")
# The aggregates the official parser knows (its AGG_OPS); any other function is not one there.
AGGREGATES = (exp.Max, exp.Min, exp.Count, exp.Sum, exp.Avg)
# A value unit of the official parser is one column unit, or two joined by one of these.
UNIT_OPERATORS = (exp.Add, exp.Sub, exp.Mul, exp.Div)
QUERY_NODES = (exp.Select, exp.SetOperation)


@dataclass(frozen=True)
class HardnessCounts:
    """The three counts `eval_hardness` classifies (named as the official functions)."""

    component1: int
    component2: int
    others: int

    @property
    def level(self) -> str:
        """The class, by the official thresholds."""
        c1, c2, others = self.component1, self.component2, self.others
        if c1 <= 1 and others == 0 and c2 == 0:
            return "easy"
        if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
            return "medium"
        if ((others > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and others <= 2 and c2 == 0)
                or (c1 <= 1 and others == 0 and c2 <= 1)):
            return "hard"
        return "extra"


@dataclass
class _Condition:
    """A condition flattened as the official parser reads it: its units left to right and the
    connectors between them."""

    units: list[exp.Expression]
    connectors: list[str]  # "and" | "or", one fewer than units

    @classmethod
    def of(cls, node: exp.Expression | None) -> _Condition:
        cond = cls([], [])
        if node is not None:
            cond._add(node)
        return cond

    def _add(self, node: exp.Expression) -> None:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Connector) and isinstance(node, (exp.And, exp.Or)):
            self._add(node.left)
            self.connectors.append("or" if isinstance(node, exp.Or) else "and")
            self._add(node.right)
        else:
            self.units.append(node)

    def extend(self, other: _Condition) -> None:
        if self.units and other.units:
            self.connectors.append("and")  # the official parser joins ON clauses with "and"
        self.units += other.units
        self.connectors += other.connectors


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, (exp.Paren, exp.Alias)):
        node = node.this
    return node


def _is_aggregate(node: exp.Expression | None) -> bool:
    return node is not None and isinstance(_unwrap(node), AGGREGATES)


def _negated(unit: exp.Expression) -> bool:
    """The condition's `not_op`: `x NOT IN`, `x NOT LIKE`, `x NOT BETWEEN`, `NOT x = y`.
    `x IS NOT NULL` is the IS operator with a negated value, not a negated condition."""
    if isinstance(unit, exp.Not):
        return not isinstance(_unwrap(unit.this), exp.Is)
    return isinstance(unit, (exp.Like, exp.ILike)) and bool(unit.args.get("negate"))


def _is_like(unit: exp.Expression) -> bool:
    if isinstance(unit, exp.Not):
        unit = _unwrap(unit.this)
    return isinstance(unit, (exp.Like, exp.ILike))


def _subqueries(node: exp.Expression) -> int:
    """Queries used as values inside a condition unit, outermost only."""
    count = 0
    for child in node.iter_expressions():
        inner = child.this if isinstance(child, exp.Subquery) else child
        if isinstance(inner, QUERY_NODES):
            count += 1
        else:
            count += _subqueries(child)
    return count


def _unit_aggregates(node: exp.Expression) -> int:
    """Aggregates among the (at most two) column units of a value unit, as in ORDER BY."""
    node = _unwrap(node)
    if isinstance(node, UNIT_OPERATORS):
        return int(_is_aggregate(node.left)) + int(_is_aggregate(node.right))
    return int(_is_aggregate(node))


def _outermost_select(tree: exp.Expression) -> tuple[exp.Select | None, int]:
    """The SELECT the official parser makes the top of the tree, and 1 if a set operation
    follows it. It reads `A UNION B UNION C` as A with the rest nested, so the top is the
    leftmost SELECT; the ORDER BY and LIMIT of a set operation belong to its last part there."""
    set_operation = 0
    node = tree
    while True:
        if isinstance(node, (exp.Subquery, exp.Paren)):
            node = node.this
        elif isinstance(node, exp.SetOperation):
            set_operation, node = 1, node.left
        else:
            break
    return (node if isinstance(node, exp.Select) else None), set_operation


def hardness_counts(tree: exp.Expression) -> HardnessCounts | None:
    """The official counts of one parsed query, or None when it is not a query."""
    select, set_operation = _outermost_select(tree)
    if select is None:
        return None
    joins = select.args.get("joins") or []
    on = _Condition([], [])
    for join in joins:
        on.extend(_Condition.of(join.args.get("on")))
    where = _Condition.of(select.args["where"].this if select.args.get("where") else None)
    having = _Condition.of(select.args["having"].this if select.args.get("having") else None)
    group = select.args["group"].expressions if select.args.get("group") else []
    order = select.args["order"].expressions if select.args.get("order") else []
    items = select.expressions

    conditions = (on, where, having)
    component1 = (int(bool(where.units)) + int(bool(group)) + int(bool(order))
                  + int(select.args.get("limit") is not None) + len(joins)
                  + sum(c.connectors.count("or") for c in conditions)
                  + sum(_is_like(u) for c in conditions for u in c.units))
    component2 = sum(_subqueries(u) for c in conditions for u in c.units) + set_operation

    aggregates = (sum(_is_aggregate(i) for i in items)
                  + sum(_negated(u) for u in where.units)  # the official `unit[0]` is not_op here
                  + sum(_is_aggregate(g) for g in group)
                  + sum(_unit_aggregates(o.this) for o in order)
                  # ... and in HAVING, not_op or the first letter of "and"/"or"
                  + sum(_negated(u) for u in having.units) + len(having.connectors))
    others = (int(aggregates > 1) + int(len(items) > 1) + int(len(where.units) > 1) + int(len(group) > 1))
    return HardnessCounts(component1, component2, others)


def spider_hardness(sql: str) -> str | None:
    """Spider's class of a gold query (easy, medium, hard or extra), or None when sqlglot cannot
    parse it or it is not one query."""
    trees = parse_any(sql, "sqlite")
    if not trees or len(trees) != 1:
        return None
    counts = hardness_counts(trees[0])
    return counts.level if counts is not None else None
