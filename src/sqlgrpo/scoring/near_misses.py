"""Verified near-misses: small AST edits of a gold query that run but give another outcome.

A near-miss is a negative that looks like the gold (same tables, same shape, one edit away) and
is proven wrong by execution: it runs on the example database, and `outcomes_match` (the metric
and the reward's own comparison) says its outcome differs from the gold's. They feed the reward
audit (`sqlgrpo audit-rewards`) and the contrastive stage (`sqlgrpo.dpo`).

    >>> ctx = "CREATE TABLE t (x INT, y INT); INSERT INTO t VALUES (1, 5), (2, 5), (3, 7);"
    >>> for m in near_misses("SELECT SUM(x) FROM t WHERE x > 1", ctx, max_per_kind=1):
    ...     print(f"{m['kind']}: {m['sql']}")
    flip_comparison: SELECT SUM(x) FROM t WHERE x <= 1
    drop_where: SELECT SUM(x) FROM t
    swap_aggregate: SELECT AVG(x) FROM t WHERE x > 1
    shift_comparison: SELECT SUM(x) FROM t WHERE x >= 1
    swap_column: SELECT SUM(y) FROM t WHERE x > 1

Other edits were tried and dropped: `SELECT DISTINCT SUM(x) ...` (toggle_distinct) gives the same
single row, so it is no negative.

Edits are plain functions in the `EDITS` registry, keyed by their own name (the `kind` of the
near-misses they make). Each takes the gold's parsed statements (and, for edits that need to
know the schema or the data, the `Example` database they run on) and yields edited copies, one
edit at a time, in a fixed order; `near_misses` keeps those that are verified. Adding an edit
kind is adding a function and a registry entry.

Edits are made on sqlglot trees, never on the text, and the result is written back in the
backend's dialect. Before any edit is trusted, the unedited trees are written back the same way
and must reproduce the gold's outcome; a gold that sqlglot does not round-trip faithfully gives
no near-misses, so a candidate's outcome differs because of its edit and not because of the
rewriting. That second run also drops most golds whose outcome is not reproducible (RANDOM(),
the clock), against which nothing can be verified.

`question_contrast` adds negatives of another sort: the gold of another question on the same
schema, kept when its outcome on this question's database differs.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Iterator, Mapping

from sqlglot import exp

from sqlgrpo.sql.analysis import SQLGLOT_DIALECT, parse_statements
from sqlgrpo.scoring.matching import outcomes_match
from sqlgrpo.scoring.rewards import gold_is_ordered, gold_outcome
from sqlgrpo.sql import default_executor, split_statements, starts_with_keyword

log = logging.getLogger(__name__)

MAX_TRIES_PER_KIND = 12  # candidates executed per edit kind: a gold with dozens of comparisons
# must not cost dozens of executions when the first few already give enough verified negatives
MAX_RENDERS_PER_KIND = 4 * MAX_TRIES_PER_KIND  # candidates written back per kind, duplicates
# included: an edit whose proposals are all duplicates of earlier kinds must still stop soon
PARSE_FALLBACKS = ("postgres", "mysql")  # the flavours `sqlgrpo.sql` transpiles gold text from
SAMPLE_ROWS = 5  # rows read per table to tell numeric columns from text ones: enough to see a
# type, cheap on any example database (their tables hold a handful of rows)
MAX_QUESTION_CONTRASTS = 2  # other questions' golds kept as negatives per question
DATE_SHIFT = datetime.timedelta(days=1)  # how far a date literal moves: the off-by-one of dates

Trees = list[exp.Expression]
Edit = Callable[..., Iterator[Trees]]  # (trees, example=None) -> edited copies


# --------------------------------------------------------------------------------------------
# The example database, as the edits that need more than the gold's text see it


_COLUMN_CLASSES: OrderedDict[tuple, dict[str, str | None]] = OrderedDict()
_COLUMN_CLASSES_LOCK = threading.Lock()
COLUMN_CLASS_CACHE_SIZE = 4_096  # tables whose column classes are kept; keyed by a digest of the
# context, not the context itself, which may be megabytes of INSERTs


def _column_classes(backend: str, sql_context: str, digest: str, table: str,
                    columns: tuple[str, ...]) -> dict[str, str | None]:
    """Lower-cased column name -> value class ("number", "text", "blob", a type name, "mixed";
    None when the sample holds no value), read from a few rows through the executor: only
    `sqlgrpo.sql` opens connections, so a column's type is inferred from what it holds. Cached
    per (backend, context, table)."""
    key = (backend, digest, table, columns)
    with _COLUMN_CLASSES_LOCK:
        if key in _COLUMN_CLASSES:
            _COLUMN_CLASSES.move_to_end(key)
            return _COLUMN_CLASSES[key]
    query = exp.select(*(exp.column(c, quoted=True) for c in columns)).from_(exp.table_(table, quoted=True))
    result = default_executor(backend).run(query.limit(SAMPLE_ROWS).sql(dialect=SQLGLOT_DIALECT.get(backend, backend)),
                                           sql_context)
    classes: dict[str, str | None] = {}
    for i, column in enumerate(columns):
        seen = {_value_class(row[i]) for row in result.rows if i < len(row) and row[i] is not None} if result.ok else set()
        classes[column.lower()] = None if not seen else seen.pop() if len(seen) == 1 else "mixed"
    with _COLUMN_CLASSES_LOCK:
        _COLUMN_CLASSES[key] = classes
        while len(_COLUMN_CLASSES) > COLUMN_CLASS_CACHE_SIZE:
            _COLUMN_CLASSES.popitem(last=False)
    return classes


def _value_class(value: Any) -> str:
    if isinstance(value, (bool, int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "blob"
    return type(value).__name__  # DuckDB dates, lists, structs: compatible with their own kind


@dataclass
class Example:
    """The pristine example database of a gold's context: its schema (table -> columns, from the
    executor) and what edits may ask of its data. Lookups of tables and columns ignore case."""

    sql_context: str
    backend: str = "sqlite"
    _tables: dict[str, str] | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)

    @property
    def schema(self) -> dict[str, list[str]]:
        db = default_executor(self.backend).database(self.sql_context)
        return db.schema if db.ok else {}

    def table(self, name: str) -> str | None:
        """The schema's own spelling of a table name, or None when the schema has no such table."""
        if self._tables is None:
            self._tables = {t.lower(): t for t in self.schema}
        return self._tables.get((name or "").lower())

    def columns(self, table: str) -> list[str]:
        key = self.table(table)
        return list(self.schema.get(key, [])) if key else []

    def column_class(self, table: str, column: str) -> str | None:
        key = self.table(table)
        if key is None:
            return None
        if self._digest is None:
            self._digest = hashlib.sha256(self.sql_context.encode("utf-8", "surrogatepass")).hexdigest()
        return _column_classes(self.backend, self.sql_context, self._digest, key,
                               tuple(self.schema[key])).get(column.lower())

    def compatible_columns(self, table: str, column: str) -> list[str]:
        """The table's other columns holding values of the same class, in schema order (none for a
        column whose class the sample cannot tell)."""
        cls = self.column_class(table, column)
        if cls is None:
            return []
        return [c for c in self.columns(table) if c.lower() != column.lower() and self.column_class(table, c) == cls]

    def first_value(self, query: exp.Expression) -> Any:
        """The first cell of a query's result (None when it fails or returns nothing)."""
        result = default_executor(self.backend).run(query.sql(dialect=SQLGLOT_DIALECT.get(self.backend, self.backend)),
                                                    self.sql_context)
        return result.rows[0][0] if result.ok and result.rows and result.rows[0] else None


# --------------------------------------------------------------------------------------------
# Walking and replacing nodes on copies


def _nodes(tree: exp.Expression) -> list[exp.Expression]:
    """Every node of a tree in depth-first (textual) order; a copy of the tree lists its own
    nodes in the same order, so an index names the same node in both."""
    return list(tree.walk(bfs=False))


Rewrite = Callable[[exp.Expression], exp.Expression]


def _replaced(trees: Trees, s: int, i: int, rewrite: Rewrite) -> Trees:
    """A fresh copy of all statements with node `i` of statement `s` replaced by `rewrite(node)`
    (called on the copy's node). The originals are never touched."""
    copies = [t.copy() for t in trees]
    target = _nodes(copies[s])[i]
    replacement = rewrite(target)
    if target is copies[s]:
        copies[s] = replacement
    elif replacement is not target:
        target.replace(replacement)
    return copies


def _each_node_rewrite(trees: Trees, is_target: Callable[[exp.Expression], bool],
                       rewrites: Callable[[exp.Expression], list[Rewrite]], *, interleave: bool = False) -> Iterator[Trees]:
    """For every target node (statement by statement, depth-first) and every rewrite of it, a
    fresh copy of all statements with that one node replaced.

    interleave: the first rewrite of every node, then the second of every node, and so on, so
    that a capped number of candidates spreads over the query instead of exhausting its first
    node (a column with nine alternatives must not crowd out the other columns)."""
    if not interleave:  # lazily: the caller stops at its caps, often after the first nodes
        for s, tree in enumerate(trees):
            for i, node in enumerate(_nodes(tree)):
                if is_target(node):
                    for rewrite in rewrites(node):
                        yield _replaced(trees, s, i, rewrite)
        return
    targets = [(s, i, rewrites(node)) for s, tree in enumerate(trees)
               for i, node in enumerate(_nodes(tree)) if is_target(node)]
    for rank in range(max((len(r) for _, _, r in targets), default=0)):
        for s, i, node_rewrites in targets:
            if rank < len(node_rewrites):
                yield _replaced(trees, s, i, node_rewrites[rank])


def _in_condition(node: exp.Expression) -> bool:
    """Whether a node is (part of) the boolean condition of a WHERE, HAVING, QUALIFY or JOIN ... ON:
    only NOT, AND/OR and parentheses stand between it and the clause."""
    child, parent = node, node.parent
    while isinstance(parent, (exp.Connector, exp.Paren, exp.Not)):
        child, parent = parent, parent.parent
    if isinstance(parent, (exp.Where, exp.Having, exp.Qualify)):
        return True
    return isinstance(parent, exp.Join) and child.arg_key == "on"


def _dml_where(node: exp.Expression) -> bool:
    """Whether a node is the WHERE clause of a top-level UPDATE or DELETE (the DML edits' own)."""
    return isinstance(node, exp.Where) and isinstance(node.parent, (exp.Update, exp.Delete)) and node.parent.parent is None


# --------------------------------------------------------------------------------------------
# Literals: numbers, dates and strings moved a little


def _number(node: exp.Expression) -> Decimal | None:
    if not (isinstance(node, exp.Literal) and not node.is_string):
        return None
    try:
        value = Decimal(node.this)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _number_step(value: Decimal) -> Decimal:
    """A small move for a number: one unit of its last significant digit (1 for integers and for
    `100.00`, 0.1 for `1.1`, 0.01 for `0.05`), so that a threshold shifts, not leaps."""
    exponent = value.normalize().as_tuple().exponent
    return Decimal(1) if not isinstance(exponent, int) or exponent >= 0 else Decimal(1).scaleb(exponent)


def _number_literal(value: Decimal) -> exp.Literal:
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    return exp.Literal.number(text)


def _shifted_numbers(node: exp.Expression) -> list[exp.Literal]:
    """A numeric literal moved up, then down, by `_number_step`; [] for anything else."""
    value = _number(node)
    if value is None:
        return []
    step = _number_step(value)
    return [_number_literal(value + step), _number_literal(value - step)]


def _shifted_date(text: str) -> str | None:
    """An ISO date one `DATE_SHIFT` later (a value, not SQL: `2024-01-31` -> `2024-02-01`)."""
    if len(text) != len("2024-01-31"):
        return None
    try:
        return (datetime.date.fromisoformat(text) + DATE_SHIFT).isoformat()
    except ValueError:
        return None


def _nudged_string(text: str) -> str:
    """Another string one small change away: a date a day later, else the last digit counted up
    ('Farm 1' -> 'Farm 2'), else the first letter's case swapped ('USA' -> 'uSA'), else 'x' added."""
    date = _shifted_date(text)
    if date is not None:
        return date
    for i in range(len(text) - 1, -1, -1):
        if text[i].isdigit() and text[i].isascii():
            return text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:]
    for i, ch in enumerate(text):
        if ch.isalpha() and ch.swapcase() != ch:
            return text[:i] + ch.swapcase() + text[i + 1:]
    return text + "x"


def _nudged_value(node: exp.Expression) -> exp.Expression | None:
    """One literal changed a little (numbers up by a step, strings nudged, booleans negated)."""
    if isinstance(node, exp.Boolean):
        return exp.Boolean(this=not node.this)
    if isinstance(node, exp.Literal) and node.is_string:
        return exp.Literal.string(_nudged_string(node.this))
    shifted = _shifted_numbers(node)
    return shifted[0] if shifted else None


# --------------------------------------------------------------------------------------------
# Resolving a column to the schema table it belongs to


def _scope_tables(scope: exp.Expression) -> dict[str, exp.Expression]:
    """Alias (lower case) -> source of a SELECT or DML statement's own FROM/JOIN/target: a
    `exp.Table` or, for a derived table, the subquery."""
    sources: list[exp.Expression] = []
    if isinstance(scope, (exp.Update, exp.Delete, exp.Insert)):
        target = scope.this
        sources.append(target.this if isinstance(target, exp.Schema) else target)
    from_ = scope.args.get("from_") or scope.args.get("from")
    if isinstance(from_, exp.From):
        sources.append(from_.this)
    sources += [join.this for join in scope.args.get("joins") or []]
    out: dict[str, exp.Expression] = {}
    for source in sources:
        if isinstance(source, exp.Table):
            out.setdefault((source.alias_or_name or "").lower(), source)
        elif isinstance(source, exp.Expression) and source.alias:
            out.setdefault(source.alias.lower(), source)
    return out


def _column_table(col: exp.Column, example: Example) -> str | None:
    """The schema table a column reference reads, or None when it is not plainly one (an alias,
    a derived table's column, a CTE's, an ambiguous name): such columns are never swapped."""
    if isinstance(col.this, exp.Star) or not col.name:
        return None
    name, qualifier = col.name.lower(), (col.table or "").lower()
    scope = col.parent
    while scope is not None:
        if isinstance(scope, (exp.Select, exp.Update, exp.Delete, exp.Insert)):
            sources = _scope_tables(scope)
            if qualifier:
                if qualifier in sources:
                    source = sources[qualifier]
                    if isinstance(source, exp.Table) and not source.db and example.table(source.name) \
                            and name in {c.lower() for c in example.columns(source.name)}:
                        return example.table(source.name)
                    return None
            else:
                owners = list(dict.fromkeys(example.table(s.name) for s in sources.values()
                                            if isinstance(s, exp.Table) and example.table(s.name)
                                            and name in {c.lower() for c in example.columns(s.name)}))
                if len(owners) == 1:
                    return owners[0]
                if owners or any(not (isinstance(s, exp.Table) and example.table(s.name)) for s in sources.values()):
                    return None  # ambiguous, or maybe a derived table's or a CTE's column
        scope = scope.parent
    return None


def _with_name(col: exp.Column, name: str) -> exp.Column:
    """The same column reference (same qualifier) naming another column."""
    table = col.args.get("table")
    return exp.Column(this=exp.to_identifier(name), table=table.copy() if table is not None else None)


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

    return _each_node_rewrite(trees, _is_comparison, rewrites)


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

    return _each_node_rewrite(trees, _is_column_aggregate, rewrites)


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
        nudged = _nudged_value(node)
        return [] if nudged is None else [lambda n, v=nudged: v.copy()]

    return _each_node_rewrite(trees, is_target, rewrites)


_RELAXED_BOUND: dict[type, type] = {exp.GT: exp.GTE, exp.LT: exp.LTE}
_TIGHTENED_BOUND: dict[type, type] = {exp.GTE: exp.GT, exp.LTE: exp.LT}


def _bound_edits(trees: Trees, swaps: dict[type, type]) -> Iterator[Trees]:
    """Comparisons of a top-level UPDATE/DELETE's WHERE (outside subqueries) with their operator swapped."""
    def is_target(node: exp.Expression) -> bool:
        where = node.find_ancestor(exp.Where, exp.Select)
        return type(node) in swaps and where is not None and _dml_where(where) and _in_condition(node)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        swapped = swaps[type(node)]
        return [lambda n: swapped(this=n.this, expression=n.expression)]

    return _each_node_rewrite(trees, is_target, rewrites)


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
        moved: list[exp.Expression] = _shifted_numbers(literal)
        if isinstance(literal, exp.Literal) and literal.is_string:
            date = _shifted_date(literal.this)
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

    return _each_node_rewrite(trees, is_target, rewrites)


def negate_predicate(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One predicate of a WHERE/HAVING/ON condition wrapped in NOT (LIKE, IN, BETWEEN, IS,
    EXISTS, ...), or a NOT around one removed, one predicate at a time.

    Plain comparisons are left to `flip_comparison`: under SQL's three-valued logic `NOT a > 1`
    is `a <= 1` exactly (NULL stays NULL), so wrapping them would only repeat its near-misses
    in other words.
    """
    def is_target(node: exp.Expression) -> bool:
        if isinstance(node, exp.Not):
            return _in_condition(node) and isinstance(node.this, (exp.Predicate, exp.Paren))
        return (isinstance(node, exp.Predicate) and type(node) not in _FLIPPED_COMPARISON
                and _in_condition(node) and not isinstance(node.parent, exp.Not))

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        if isinstance(node, exp.Not):
            return [lambda n: n.this]
        return [lambda n: exp.Not(this=n.copy())]  # a copy: `n` is the node being replaced

    return _each_node_rewrite(trees, is_target, rewrites)


def _is_chain_root(node: exp.Expression) -> bool:
    """The top of an AND (or OR) chain inside a condition: `a AND b AND c` is one chain of three."""
    return isinstance(node, exp.Connector) and type(node.parent) is not type(node) and _in_condition(node)


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

    return _each_node_rewrite(trees, is_target, rewrites)


def swap_and_or(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One AND of a condition made OR, or one OR made AND (parenthesized when nested, so that the
    edit changes one connective and not the grouping of the rest)."""
    def is_target(node: exp.Expression) -> bool:
        return isinstance(node, (exp.And, exp.Or)) and _in_condition(node)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        other = exp.Or if isinstance(node, exp.And) else exp.And

        def swap(n: exp.Expression) -> exp.Expression:
            swapped = other(this=n.this, expression=n.expression)
            return exp.Paren(this=swapped) if isinstance(n.parent, (exp.Connector, exp.Not)) else swapped

        return [swap]

    return _each_node_rewrite(trees, is_target, rewrites)


def _column_alternatives(col: exp.Column, example: Example | None) -> list[str]:
    if example is None:
        return []
    table = _column_table(col, example)
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

    yield from _each_node_rewrite(trees, is_join, join_rewrites)

    def is_join_key(node: exp.Expression) -> bool:
        eq = node.parent
        return (isinstance(node, exp.Column) and isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column)
                and isinstance(eq.expression, exp.Column) and _in_condition(eq)
                and isinstance(eq.find_ancestor(exp.Join, exp.Where, exp.Having), exp.Join))

    def key_rewrites(node: exp.Expression) -> list[Rewrite]:
        return [lambda n, c=c: _with_name(n, c) for c in _column_alternatives(node, example)]

    yield from _each_node_rewrite(trees, is_join_key, key_rewrites, interleave=True)


def swap_column(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One column reference replaced by another column of the same table that holds the same
    kind of values (numbers for numbers, text for text, judged from a few rows of the example
    database). Alternatives are spread over the query: the first alternative of every column,
    then the second, and so on."""
    def is_target(node: exp.Expression) -> bool:
        return isinstance(node, exp.Column) and not isinstance(node.this, exp.Star)

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        return [lambda n, c=c: _with_name(n, c) for c in _column_alternatives(node, example)]

    return _each_node_rewrite(trees, is_target, rewrites, interleave=True)


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

    yield from _each_node_rewrite(trees, is_select, select_rewrites)

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

    yield from _each_node_rewrite(trees, is_aggregate, aggregate_rewrites)


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

    return _each_node_rewrite(trees, lambda n: isinstance(n, exp.Ordered), rewrites)


def change_limit(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """A LIMIT n made n + 1, n - 1 or 2n (the off-by-one and the misread "top")."""
    def is_target(node: exp.Expression) -> bool:
        value = _number(node.expression) if isinstance(node, exp.Limit) else None
        return value is not None and value == value.to_integral_value()

    def rewrites(node: exp.Expression) -> list[Rewrite]:
        n = int(_number(node.expression))
        # LIMIT 0 is no answer anyone writes: an empty result, not a near-miss.
        values = list(dict.fromkeys(v for v in (n + 1, n - 1, 2 * n) if v >= 1 and v != n))

        def limited(node: exp.Expression, value: int) -> exp.Expression:
            node.set("expression", exp.Literal.number(value))
            return node

        return [functools.partial(limited, value=v) for v in values]

    return _each_node_rewrite(trees, is_target, rewrites)


def change_group_by(trees: Trees, example: Example | None = None) -> Iterator[Trees]:
    """One GROUP BY column replaced by another column of its table (same kind of values first,
    then the rest); where the select list or ORDER BY shows that column outside an aggregate, it
    is replaced there too, so the query still reports what it groups by."""
    if example is None:
        return
    for s, tree in enumerate(trees):
        for i, node in enumerate(_nodes(tree)):
            if not (isinstance(node, exp.Column) and isinstance(node.parent, exp.Group)):
                continue
            table = _column_table(node, example)
            if table is None:
                continue
            grouped = {c.name.lower() for c in node.parent.expressions if isinstance(c, exp.Column)}
            compatible = example.compatible_columns(table, node.name)
            others = [c for c in example.columns(table) if c not in compatible]
            for name in [c for c in compatible + others if c.lower() not in grouped]:  # not a key twice
                yield _group_swapped(trees, s, i, name)


def _group_swapped(trees: Trees, s: int, i: int, name: str) -> Trees:
    copies = [t.copy() for t in trees]
    key = _nodes(copies[s])[i]
    select = key.parent.parent
    old_name, old_table = key.name.lower(), (key.table or "").lower()
    same = [c for c in select.find_all(exp.Column)
            if c is not key and c.name.lower() == old_name and (c.table or "").lower() == old_table
            and c.find_ancestor(exp.Select) is select and c.find_ancestor(exp.AggFunc, exp.Select) is select
            and c.find_ancestor(exp.Where, exp.Having, exp.Join, exp.Group, exp.Select) is select]
    for column in [key, *same]:
        column.replace(_with_name(column, name))
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


# --------------------------------------------------------------------------------------------
# Verification


def parse_gold(sql: str, backend: str = "sqlite", ran_as: str | None = None) -> Trees | None:
    """The gold's statements as sqlglot trees; None when no dialect parses them.

    Read first in the flavour the executor had to transpile the gold from (`ran_as`, an
    `ExecResult.dialect`), when it did: sqlglot may also read MySQL's `DATE_FORMAT(...)` as
    SQLite, as an unknown function, and the edits would then be written back in MySQL. Then in
    the backend's dialect, then in the flavours datasets mix.
    """
    dialects = dict.fromkeys(([ran_as] if ran_as in PARSE_FALLBACKS else []) + [backend, *PARSE_FALLBACKS])
    for dialect in dialects:
        trees = parse_statements(sql, dialect)
        if trees:
            return trees
    return None


def render(trees: Trees, backend: str = "sqlite") -> str:
    """Statements written back as one text in the backend's dialect."""
    texts = [t.sql(dialect=SQLGLOT_DIALECT.get(backend, backend)) for t in trees]
    return texts[0] if len(texts) == 1 else ";\n".join(texts) + ";"


def normalized(sql: str) -> str:
    """The identity of a candidate for deduplication: whitespace collapsed, no final ';'.
    Case is kept: it matters inside string literals."""
    return " ".join(sql.split()).rstrip(";").rstrip()


def near_misses(sql: str, sql_context: str, backend: str = "sqlite", *, max_per_kind: int = 3) -> list[dict]:
    """Verified near-misses of a gold query: `{"kind": edit name, "sql": candidate}` records,
    at most `max_per_kind` per edit, in `EDITS` order then edit order; deterministic. A text two
    edits propose is kept once, under the first kind.

    A candidate is kept when it runs and its outcome differs from the gold's under
    `outcomes_match` (row order counting when the gold orders its result; DML by the database
    state). At most `MAX_TRIES_PER_KIND` candidates run per kind. A gold that does not run, does
    not parse, or does not survive the sqlglot round trip gives []. Never raises.
    """
    try:
        return _near_misses(sql, sql_context, backend, max_per_kind)
    except Exception:  # noqa: BLE001 - a row that cannot be worked on gives no near-misses
        log.debug("near_misses failed on %r", sql[:200] if isinstance(sql, str) else sql, exc_info=True)
        return []


def _near_misses(sql: str, sql_context: str, backend: str, max_per_kind: int) -> list[dict]:
    if not (isinstance(sql, str) and isinstance(sql_context, str)):
        return []
    executor = default_executor(backend)
    gold = gold_outcome(sql, sql_context, backend)  # the very outcome the execution reward compares with
    if not gold.ok:
        log.debug("gold does not run (%s): no near-misses", gold.error_kind)
        return []
    trees = parse_gold(sql, backend, gold.dialect)
    if trees is None:
        log.debug("gold does not parse: no near-misses")
        return []
    order_matters = gold_is_ordered(sql, backend)

    def same_outcome(text: str) -> bool | None:
        """Whether `text` gives the gold's outcome; None when it does not run."""
        result = executor.run(text, sql_context)
        return outcomes_match(gold, result, order_matters=order_matters) if result.ok else None

    unedited = render(trees, backend)
    if not same_outcome(unedited):
        log.debug("gold does not survive the sqlglot round trip: no near-misses")
        return []
    example = Example(sql_context, backend)
    seen = {normalized(sql), normalized(unedited)}
    out: list[dict] = []
    for kind, edit in EDITS.items():
        kept = tries = renders = 0
        candidates = edit(trees, example)
        try:
            for candidate_trees in candidates:
                if kept >= max_per_kind or tries >= MAX_TRIES_PER_KIND or renders >= MAX_RENDERS_PER_KIND:
                    break
                renders += 1
                try:
                    candidate = render(candidate_trees, backend)
                except Exception:  # noqa: BLE001 - an edited tree sqlglot cannot write: skip it
                    log.debug("could not render a %s candidate", kind, exc_info=True)
                    continue
                key = normalized(candidate)
                if key in seen:
                    continue
                seen.add(key)
                tries += 1
                if same_outcome(candidate) is False:  # ran, and the outcome differs
                    out.append({"kind": kind, "sql": candidate})
                    kept += 1
        except Exception:  # noqa: BLE001 - one edit failing on an odd tree must not cost the others
            log.debug("edit %s failed on %r", kind, sql[:200], exc_info=True)
    return out


# --------------------------------------------------------------------------------------------
# Another question's gold on the same schema


def _fields(record: Any) -> Mapping[str, Any]:
    """A record's fields: a `sources.RawRecord` (its `.fields`) or a plain mapping (a prepared row)."""
    fields = getattr(record, "fields", record)
    return fields if isinstance(fields, Mapping) else {}


def _schema_key(sql_context: str, backend: str) -> tuple | None:
    """What makes two contexts the same schema: the executor's tables and columns (lower case)
    and the context's CREATE statements (whitespace collapsed). The rows they insert may differ.
    None when the context does not build."""
    db = default_executor(backend).database(sql_context)
    if not db.ok:
        return None
    tables = tuple(sorted((t.lower(), tuple(c.lower() for c in cols)) for t, cols in db.schema.items()))
    creates = tuple(" ".join(s.split()) for s in split_statements(sql_context, backend) if starts_with_keyword(s, "CREATE"))
    return tables, creates


def question_contrast(records: Iterable[Any], backend: str = "sqlite", *,
                      max_per_row: int = MAX_QUESTION_CONTRASTS) -> list[dict]:
    """Other questions' golds as negatives: for rows whose contexts define the same schema, the
    gold of another row is a negative for this row when it runs on this row's database and its
    outcome differs from this row's gold outcome (`outcomes_match`, order counting when this gold
    orders). Returns `{"id": row id, "kind": "other_question", "sql": the other gold,
    "source_id": the other row's id}` records, at most `max_per_row` per row, rows in input
    order and, per row, the other rows in input order starting after it (so that one row is not
    every row's negative). A row without an `id` is `row-<n>` (1-based). Never raises on a row.
    """
    rows = []
    for n, record in enumerate(records, 1):
        fields = _fields(record)
        row_id = fields.get("id")
        rows.append((str(row_id) if row_id is not None else f"row-{n}", fields.get("sql"), fields.get("sql_context")))
    groups: dict[tuple, list[int]] = {}
    for n, (_, gold, context) in enumerate(rows):
        if not (isinstance(gold, str) and isinstance(context, str)):
            continue
        try:
            key = _schema_key(context, backend)
        except Exception:  # noqa: BLE001 - a context that cannot be read joins no group
            log.debug("schema key failed for row %d", n + 1, exc_info=True)
            continue
        if key is not None:
            groups.setdefault(key, []).append(n)
    out: list[dict] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        for position, n in enumerate(members):
            try:
                out += _other_questions(rows, n, members[position + 1:] + members[:position], backend, max_per_row)
            except Exception:  # noqa: BLE001 - a row that cannot be worked on gives no negatives
                log.debug("question_contrast failed on row %d", n + 1, exc_info=True)
    out.sort(key=lambda item: item["_row"])
    for item in out:
        del item["_row"]
    log.info("question_contrast: %d negatives for %d rows in %d shared-schema groups",
             len(out), len({item["id"] for item in out}), sum(1 for m in groups.values() if len(m) > 1))
    return out


def _other_questions(rows: list[tuple], n: int, others: list[int], backend: str, max_per_row: int) -> list[dict]:
    row_id, gold, context = rows[n]
    gold_result = gold_outcome(gold, context, backend)
    if not gold_result.ok:
        return []
    order_matters = gold_is_ordered(gold, backend)
    executor = default_executor(backend)
    found: list[dict] = []
    seen = {normalized(gold)}
    for m in others[:MAX_TRIES_PER_KIND]:
        if len(found) >= max_per_row:
            break
        other_id, other_gold, _ = rows[m]
        if normalized(other_gold) in seen:
            continue  # the same query under another question: no negative
        seen.add(normalized(other_gold))
        result = executor.run(other_gold, context)
        if result.ok and not outcomes_match(gold_result, result, order_matters=order_matters):
            found.append({"id": row_id, "kind": "other_question", "sql": other_gold, "source_id": other_id, "_row": n})
    return found
