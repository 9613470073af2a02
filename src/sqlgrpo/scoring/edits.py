"""The near-miss edits: small sqlglot AST edits of a gold query, the mistakes a model makes
when it is almost right.

Edits are plain functions in the `EDITS` registry, keyed by their own name (the `kind` of the
near-misses they make). Each takes the gold's parsed statements (and, for edits that need to
know the schema or the data, the `Example` database they run on) and yields edited copies, one
edit at a time, in a fixed order; `sqlgrpo.scoring.near_misses` keeps those that are verified.
Adding an edit kind is adding a function and a registry entry.

Other edits were tried and dropped: `SELECT DISTINCT SUM(x) ...` (toggle_distinct on a single
aggregate) gives the same single row, so it is no negative.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from sqlglot import exp

from sqlgrpo.scoring.edit_trees import (Edit, Example, Rewrite, Trees, column_table, each_node_rewrite, in_condition,
                                        is_dml_where, nodes, nudged_value, number_value, shifted_date, shifted_numbers,
                                        with_name)

# --------------------------------------------------------------------------------------------
# Edits. Each yields edited copies of all statements, one edit at a time, in a fixed order.

_FLIPPED_COMPARISON: dict[type, type] = {
    exp.EQ: exp.NEQ, exp.NEQ: exp.EQ,
    exp.LT: exp.GTE, exp.GTE: exp.LT,
    exp.GT: exp.LTE, exp.LTE: exp.GT,
}


def _is_comparison(node: exp.Expression) -> bool:
    if type(node) not in _FLIPPED_COMPARISON:
        return False
    # `SET x = 1` of UPDATE / ON CONFLICT DO UPDATE is an assignment that sqlglot builds as EQ.
    return not (isinstance(node.parent, (exp.Update, exp.OnConflict)) and node.arg_key == "expressions")


def flip_comparison(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One comparison negated: = and !=, < and >=, > and <= swapped, one node at a time."""
    def rewrites(node: exp.Expression) -> list[Rewrite]:
        flipped = _FLIPPED_COMPARISON[type(node)]
        return [lambda n: flipped(this=n.this, expression=n.expression)]

    return each_node_rewrite(trees, _is_comparison, rewrites)


def drop_where(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """The WHERE clause of a top-level SELECT, UPDATE or DELETE removed (one statement at a time)."""
    for s, tree in enumerate(trees):
        if isinstance(tree, (exp.Select, exp.Update, exp.Delete)) and tree.args.get("where") is not None:
            copies = [t.copy() for t in trees]
            copies[s].set("where", None)
            yield copies


# Swap targets per aggregate, most plausible confusion first (SUM/AVG, MIN/MAX are the mistakes
# a model makes; COUNT of a column is the last resort).
_AGGREGATE_SWAPS: dict[type, tuple[type, ...]] = {
    exp.Sum: (exp.Avg, exp.Count, exp.Max, exp.Min),
    exp.Avg: (exp.Sum, exp.Count, exp.Max, exp.Min),
    exp.Min: (exp.Max, exp.Avg, exp.Sum, exp.Count),
    exp.Max: (exp.Min, exp.Avg, exp.Sum, exp.Count),
    exp.Count: (exp.Sum, exp.Max, exp.Min, exp.Avg),
}


def _is_column_aggregate(node: exp.Expression) -> bool:
    """COUNT/SUM/AVG/MIN/MAX over an expression of columns (not `*`, not a constant), one argument."""
    if type(node) not in _AGGREGATE_SWAPS or node.args.get("expressions"):
        return False
    arg = node.this
    return isinstance(arg, exp.Expression) and not isinstance(arg, exp.Star) and arg.find(exp.Column) is not None


def swap_aggregate(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One aggregate's function replaced by another of COUNT/SUM/AVG/MIN/MAX, argument kept
    (DISTINCT and an OVER clause included)."""
    def rewrites(node: exp.Expression) -> list[Rewrite]:
        return [lambda n, cls=cls: cls(this=n.this) for cls in _AGGREGATE_SWAPS[type(node)]]

    return each_node_rewrite(trees, _is_column_aggregate, rewrites)


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    """The operands of a top-level AND chain (parentheses around the whole condition looked through)."""
    while isinstance(condition, exp.Paren):
        condition = condition.this
    return list(condition.flatten()) if isinstance(condition, exp.And) else [condition]


def _dml_statements(trees: Trees) -> Iterator[tuple[int, exp.Expression]]:
    for s, tree in enumerate(trees):
        if isinstance(tree, (exp.Update, exp.Delete)):
            yield s, tree


def change_dml_value(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One value of an INSERT ... VALUES row or of an UPDATE's SET changed a little: a number up
    by a step, a date a day later, a string's last digit counted up (or a letter's case swapped),
    a boolean negated. Values in textual order."""
    def is_target(node: exp.Expression) -> bool:
        if not isinstance(node, (exp.Literal, exp.Boolean)):
            return False
        values = node.find_ancestor(exp.Values, exp.Select, exp.Update)
        if isinstance(values, exp.Values):
            return isinstance(values.parent, exp.Insert)
        # In an UPDATE, the right side of a SET assignment, outside any subquery.
        assignment = node.find_ancestor(exp.EQ, exp.Select)
        return (isinstance(values, exp.Update) and isinstance(assignment, exp.EQ) and assignment.parent is values
                and assignment.arg_key == "expressions" and node.find_ancestor(exp.Where) is None)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        nudged = nudged_value(node)
        return [] if nudged is None else [lambda n, v=nudged: v.copy()]

    return each_node_rewrite(trees, is_target, rewrites)


_RELAXED_BOUND: dict[type, type] = {exp.GT: exp.GTE, exp.LT: exp.LTE}
_TIGHTENED_BOUND: dict[type, type] = {exp.GTE: exp.GT, exp.LTE: exp.LT}


def _bound_edits(trees: Trees, swaps: dict[type, type]) -> Iterator[Trees]:
    """Comparisons of a top-level UPDATE/DELETE's WHERE (outside subqueries) with their operator swapped."""
    def is_target(node: exp.Expression) -> bool:
        where = node.find_ancestor(exp.Where, exp.Select)
        return type(node) in swaps and where is not None and is_dml_where(where) and in_condition(node)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        swapped = swaps[type(node)]
        return [lambda n: swapped(this=n.this, expression=n.expression)]

    return each_node_rewrite(trees, is_target, rewrites)


def widen_dml_where(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """An UPDATE or DELETE that touches more rows: one conjunct of its WHERE dropped, then one
    strict bound relaxed (`>` to `>=`, `<` to `<=`). (Dropping the whole WHERE is `drop_where`.)"""
    for s, tree in _dml_statements(trees):
        where = tree.args.get("where")
        conjuncts = _conjuncts(where.this) if where is not None else []
        for k in range(len(conjuncts) if len(conjuncts) > 1 else 0):
            copies = [t.copy() for t in trees]
            kept = [c.copy() for j, c in enumerate(conjuncts) if j != k]
            copies[s].set("where", exp.Where(this=exp.and_(*kept)))
            yield copies
    yield from _bound_edits(trees, _RELAXED_BOUND)


def _key_column(columns: list[str]) -> str | None:
    """The column most likely to tell rows apart: `id`, else the first `..._id`, else the first
    `...id` (`EmployeeID`), else the first column."""
    lower = [c.lower() for c in columns]
    for matches in (lambda c: c == "id", lambda c: c.endswith("_id"), lambda c: c.endswith("id")):
        for column, name in zip(columns, lower):
            if matches(name):
                return column
    return columns[0] if columns else None


def narrow_dml_where(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """An UPDATE or DELETE that touches fewer rows: `AND <key> <> <value>` added, where the key is
    the target table's id-like column and the value that of a row the gold touches (so the row is
    spared); then one non-strict bound tightened (`>=` to `>`, `<=` to `<`)."""
    for s, tree in _dml_statements(trees):
        if example is None or not isinstance(tree.this, exp.Table):
            continue
        table = tree.this
        key = _key_column(example.columns(table.name))
        where = tree.args.get("where")
        if key is None or (where is not None and any(c.name.lower() == key.lower() for c in where.find_all(exp.Column))):
            continue  # `WHERE id = 1 AND id <> 1` would narrow by contradiction, no one writes that
        probe = exp.select(exp.column(key, quoted=True)).from_(table.copy()).limit(1)
        if where is not None:
            probe.set("where", where.copy())
        value = example.first_value(probe)  # a row the gold's WHERE selects
        if value is None or isinstance(value, (bytes, bytearray, memoryview)):
            continue
        spared = exp.NEQ(this=exp.Column(this=exp.to_identifier(key)), expression=exp.convert(value))
        copies = [t.copy() for t in trees]
        condition = spared if where is None else exp.and_(*_conjuncts(where.this), spared)  # and_ copies
        copies[s].set("where", exp.Where(this=condition))
        yield copies
    yield from _bound_edits(trees, _TIGHTENED_BOUND)


_STRICTNESS_SWAP: dict[type, type] = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT}


def shift_comparison(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """A comparison's boundary moved: `>` and `>=`, `<` and `<=` swapped; then a number compared
    with moved up and down by a small step, a compared ISO date moved a day; also the bounds of
    a BETWEEN. One comparison at a time, in textual order."""
    def is_target(node: exp.Expression) -> bool:
        if isinstance(node, exp.Between):
            return True
        return _is_comparison(node)

    def operand_shifts(node: exp.Expression, arg: str) -> list[Rewrite]:
        operand = node.args.get(arg)
        literal = operand.this if isinstance(operand, exp.Neg) else operand  # `x > -5`: move the 5
        moved: list[exp.Expression] = shifted_numbers(literal)
        if isinstance(literal, exp.Literal) and literal.is_string:
            date = shifted_date(literal.this)
            moved = [exp.Literal.string(date)] if date else []
        if literal is not operand:
            moved = [exp.Neg(this=m) for m in moved]

        def shift(n: exp.Expression, arg: str = arg, value: exp.Expression | None = None) -> exp.Expression:
            n.set(arg, value.copy())
            return n

        return [functools.partial(shift, arg=arg, value=m) for m in moved]

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        out: list[Rewrite] = []
        if type(node) in _STRICTNESS_SWAP:
            swapped = _STRICTNESS_SWAP[type(node)]
            out.append(lambda n: swapped(this=n.this, expression=n.expression))
        for arg in (("low", "high") if isinstance(node, exp.Between) else ("expression", "this")):
            out += operand_shifts(node, arg)
        return out

    return each_node_rewrite(trees, is_target, rewrites)


def negate_predicate(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One predicate of a WHERE/HAVING/ON condition wrapped in NOT (LIKE, IN, BETWEEN, IS,
    EXISTS, ...), or a NOT around one removed, one predicate at a time.

    Plain comparisons are left to `flip_comparison`: under SQL's three-valued logic `NOT a > 1`
    is `a <= 1` exactly (NULL stays NULL), so wrapping them would only repeat its near-misses
    in other words.
    """
    def is_target(node: exp.Expression) -> bool:
        if isinstance(node, exp.Not):
            return in_condition(node) and isinstance(node.this, (exp.Predicate, exp.Paren))
        return (isinstance(node, exp.Predicate) and type(node) not in _FLIPPED_COMPARISON
                and in_condition(node) and not isinstance(node.parent, exp.Not))

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        if isinstance(node, exp.Not):
            return [lambda n: n.this]
        return [lambda n: exp.Not(this=n.copy())]  # a copy: `n` is the node being replaced

    return each_node_rewrite(trees, is_target, rewrites)


def _is_chain_root(node: exp.Expression) -> bool:
    """The top of an AND (or OR) chain inside a condition: `a AND b AND c` is one chain of three."""
    return isinstance(node, exp.Connector) and type(node.parent) is not type(node) and in_condition(node)


def drop_predicate(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One operand of a compound WHERE/HAVING/ON condition removed (`a AND b AND c` gives
    `b AND c`, `a AND c`, `a AND b`; the same for OR), chain by chain in textual order."""
    def is_target(node: exp.Expression) -> bool:
        # A parenthesized chain is edited through its parentheses, so that `(a OR b)` becomes `b`.
        if isinstance(node, exp.Paren):
            return _is_chain_root(node.this)
        return _is_chain_root(node) and not isinstance(node.parent, exp.Paren)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        chain = node.this if isinstance(node, exp.Paren) else node
        combine = exp.and_ if isinstance(chain, exp.And) else exp.or_

        def without(n: exp.Expression, k: int) -> exp.Expression:
            inner = n.this if isinstance(n, exp.Paren) else n
            combined = combine(*(o for j, o in enumerate(inner.flatten()) if j != k))  # and_/or_ copy
            # A shorter chain keeps the grouping it had: its parentheses, or new ones when it sits
            # bare inside another connective.
            keeps_group = isinstance(n, exp.Paren) or isinstance(n.parent, (exp.Connector, exp.Not))
            return exp.Paren(this=combined) if keeps_group and isinstance(combined, exp.Connector) else combined

        return [functools.partial(without, k=k) for k in range(len(list(chain.flatten())))]

    return each_node_rewrite(trees, is_target, rewrites)


def swap_and_or(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One AND of a condition made OR, or one OR made AND (parenthesized when nested, so that the
    edit changes one connective and not the grouping of the rest)."""
    def is_target(node: exp.Expression) -> bool:
        return isinstance(node, (exp.And, exp.Or)) and in_condition(node)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        other = exp.Or if isinstance(node, exp.And) else exp.And

        def swap(n: exp.Expression) -> exp.Expression:
            swapped = other(this=n.this, expression=n.expression)
            return exp.Paren(this=swapped) if isinstance(n.parent, (exp.Connector, exp.Not)) else swapped

        return [swap]

    return each_node_rewrite(trees, is_target, rewrites)


def _column_alternatives(col: exp.Column, example: Example | None) -> list[str]:
    if example is None:
        return []
    table = column_table(col, example)
    return example.compatible_columns(table, col.name) if table else []


def change_join(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """A join changed: INNER made LEFT (and LEFT/RIGHT/FULL made INNER), join by join; then one
    side of an equi-join condition (`a.x = b.y`) replaced by another column of its table holding
    the same kind of values."""
    def is_join(node: exp.Expression) -> bool:
        return (isinstance(node, exp.Join) and (node.args.get("on") is not None or node.args.get("using"))
                and (node.kind or "").upper() in ("", "INNER", "OUTER") and not node.method)

    def join_rewrites(node: exp.Expression) -> list[Rewrite]:
        def toggled(n: exp.Expression) -> exp.Expression:
            if n.side:
                n.set("side", None)
                n.set("kind", None)
            else:
                n.set("side", "LEFT")
                n.set("kind", None)
            return n

        return [toggled]

    yield from each_node_rewrite(trees, is_join, join_rewrites)

    def is_join_key(node: exp.Expression) -> bool:
        eq = node.parent
        return (isinstance(node, exp.Column) and isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column)
                and isinstance(eq.expression, exp.Column) and in_condition(eq)
                and isinstance(eq.find_ancestor(exp.Join, exp.Where, exp.Having), exp.Join))

    def key_rewrites(node: exp.Expression) -> list[Rewrite]:
        return [lambda n, c=c: with_name(n, c) for c in _column_alternatives(node, example)]

    yield from each_node_rewrite(trees, is_join_key, key_rewrites, interleave=True)


def swap_column(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One column reference replaced by another column of the same table that holds the same
    kind of values (numbers for numbers, text for text, judged from a few rows of the example
    database). Alternatives are spread over the query: the first alternative of every column,
    then the second, and so on."""
    def is_target(node: exp.Expression) -> bool:
        return isinstance(node, exp.Column) and not isinstance(node.this, exp.Star)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        return [lambda n, c=c: with_name(n, c) for c in _column_alternatives(node, example)]

    return each_node_rewrite(trees, is_target, rewrites, interleave=True)


_DISTINCT_AGGREGATES = (exp.Count, exp.Sum, exp.Avg)


def toggle_distinct(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """DISTINCT added to or removed from one SELECT, then from one COUNT/SUM/AVG argument."""
    def is_select(node: exp.Expression) -> bool:
        distinct = node.args.get("distinct")
        return isinstance(node, exp.Select) and not (distinct is not None and distinct.args.get("on"))

    def select_rewrites(node: exp.Expression) -> list[Rewrite]:
        def toggled(n: exp.Expression) -> exp.Expression:
            n.set("distinct", None if n.args.get("distinct") else exp.Distinct())
            return n

        return [toggled]

    yield from each_node_rewrite(trees, is_select, select_rewrites)

    def is_aggregate(node: exp.Expression) -> bool:
        if type(node) not in _DISTINCT_AGGREGATES or node.args.get("expressions"):
            return False
        arg = node.this
        if isinstance(arg, exp.Distinct):
            return len(arg.expressions) == 1
        return isinstance(arg, exp.Expression) and not isinstance(arg, exp.Star) and arg.find(exp.Column) is not None

    def aggregate_rewrites(node: exp.Expression) -> list[Rewrite]:
        def toggled(n: exp.Expression) -> exp.Expression:
            arg = n.this
            n.set("this", arg.expressions[0] if isinstance(arg, exp.Distinct) else exp.Distinct(expressions=[arg]))
            return n

        return [toggled]

    yield from each_node_rewrite(trees, is_aggregate, aggregate_rewrites)


def reverse_order(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One ORDER BY key reversed (ASC and DESC swapped; in a window's ORDER BY too). NULLs keep
    the dialect's default place for the new direction, so the text shows only the direction."""
    def rewrites(node: exp.Expression) -> list[Rewrite]:
        def reversed_(n: exp.Expression) -> exp.Expression:
            n.set("desc", not n.args.get("desc"))
            if n.args.get("nulls_first") is not None:
                n.set("nulls_first", not n.args.get("nulls_first"))
            return n

        return [reversed_]

    return each_node_rewrite(trees, lambda n: isinstance(n, exp.Ordered), rewrites)


def change_limit(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """A LIMIT n made n + 1, n - 1 or 2n (the off-by-one and the misread "top")."""
    def is_target(node: exp.Expression) -> bool:
        value = number_value(node.expression) if isinstance(node, exp.Limit) else None
        return value is not None and value == value.to_integral_value()

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        n = int(number_value(node.expression))
        # LIMIT 0 is no answer anyone writes: an empty result, not a near-miss.
        values = list(dict.fromkeys(v for v in (n + 1, n - 1, 2 * n) if v >= 1 and v != n))

        def limited(node: exp.Expression, value: int) -> exp.Expression:
            node.set("expression", exp.Literal.number(value))
            return node

        return [functools.partial(limited, value=v) for v in values]

    return each_node_rewrite(trees, is_target, rewrites)


def change_group_by(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One GROUP BY column replaced by another column of its table (same kind of values first,
    then the rest); where the select list or ORDER BY shows that column outside an aggregate, it
    is replaced there too, so the query still reports what it groups by."""
    if example is None:
        return
    for s, tree in enumerate(trees):
        for i, node in enumerate(nodes(tree)):
            if not (isinstance(node, exp.Column) and isinstance(node.parent, exp.Group)):
                continue
            table = column_table(node, example)
            if table is None:
                continue
            grouped = {c.name.lower() for c in node.parent.expressions if isinstance(c, exp.Column)}
            compatible = example.compatible_columns(table, node.name)
            others = [c for c in example.columns(table) if c not in compatible]
            for name in [c for c in compatible + others if c.lower() not in grouped]:  # not a key twice
                yield _group_swapped(trees, s, i, name)


def _group_swapped(trees: Trees, s: int, i: int, name: str) -> Trees:
    copies = [t.copy() for t in trees]
    key = nodes(copies[s])[i]
    select = key.parent.parent
    old_name, old_table = key.name.lower(), (key.table or "").lower()
    same = [c for c in select.find_all(exp.Column)
            if c is not key and c.name.lower() == old_name and (c.table or "").lower() == old_table
            and c.find_ancestor(exp.Select) is select and c.find_ancestor(exp.AggFunc, exp.Select) is select
            and c.find_ancestor(exp.Where, exp.Having, exp.Join, exp.Group, exp.Select) is select]
    for column in [key, *same]:
        column.replace(with_name(column, name))
    return copies


EDITS: dict[str, Edit] = {
    # The first three, then the DML edits (they claim the WHERE edits of an UPDATE/DELETE before
    # the general condition edits below propose the same text), then the rest.
    "flip_comparison": flip_comparison,
    "drop_where": drop_where,
    "swap_aggregate": swap_aggregate,
    "change_dml_value": change_dml_value,
    "widen_dml_where": widen_dml_where,
    "narrow_dml_where": narrow_dml_where,
    "shift_comparison": shift_comparison,
    "negate_predicate": negate_predicate,
    "drop_predicate": drop_predicate,
    "swap_and_or": swap_and_or,
    "change_join": change_join,
    "swap_column": swap_column,
    "toggle_distinct": toggle_distinct,
    "reverse_order": reverse_order,
    "change_limit": change_limit,
    "change_group_by": change_group_by,
}


