"""What a test-suite fuzzer needs to know: the tables of a context (columns, types, keys, rows)
and what the gold looks at (its literals per column, joins, groups, ordering, LIMIT), and the
values it draws from them (a column's own, a literal's neighbours, fresh ones of its type).

Read by `sqlgrpo.sql.fuzz`; types and keys come from the context's CREATE TABLE statements as
sqlglot reads them, rows through the executor.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from sqlgrpo.sql.analysis import parse_any
from sqlgrpo.sql.executor import ExampleDatabase
from sqlgrpo.sql.guard import quote_ident, split_statements, starts_with_keyword

log = logging.getLogger(__name__)

MAX_TABLE_ROWS = 500  # tables larger than this get no variants (a variant rewrites whole tables)
MAX_LIMIT_ROWS = 20  # a LIMIT up to this gets that many rows and more in the candidates
FRESH_ATTEMPTS = 8  # draws of a value no row holds before taking one that some row does
DATE_ANCHOR = dt.datetime(2024, 1, 1)  # fresh dates of a column without any: fixed, so that suites
# do not change from one day to the next (golds comparing with DATE('now') get dates near today
# from their own expressions, which the engine works out: `sqlgrpo.sql.fuzz_schema.gold_hints`)


# --------------------------------------------------------------------------------------------
# The schema and data being fuzzed

@dataclass
class Column:
    name: str
    family: str  # "int", "real", "text", "date", "datetime", "bool" or "other"
    not_null: bool = False


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: list[tuple]
    unique_sets: list[tuple[int, ...]] = field(default_factory=list)  # PRIMARY KEY, UNIQUE
    references: dict[int, tuple[str, str]] = field(default_factory=dict)  # column -> (table, column)

    def index(self, column: str) -> int | None:
        low = column.lower()
        return next((i for i, c in enumerate(self.columns) if c.name.lower() == low), None)


_FAMILIES = (
    ("bool", exp.DataType.Type.BOOLEAN),
    ("int", *exp.DataType.INTEGER_TYPES),
    ("real", *exp.DataType.REAL_TYPES),
    ("date", exp.DataType.Type.DATE),
    ("datetime", exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ,
     exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.DATETIME64),
    ("text", *exp.DataType.TEXT_TYPES),
)


def _family(kind: exp.DataType | None, values: Iterable[Any]) -> str:
    if isinstance(kind, exp.DataType):
        for name, *types in _FAMILIES:
            if kind.is_type(*types):
                return name
    return _family_of_values(values)


def _family_of_values(values: Iterable[Any]) -> str:
    seen = [v for v in values if v is not None]
    if not seen:
        return "other"
    if all(isinstance(v, bool) for v in seen):
        return "bool"
    if all(isinstance(v, int) for v in seen):
        return "int"
    if all(isinstance(v, (int, float, Decimal)) for v in seen):
        return "real"
    if all(isinstance(v, dt.datetime) for v in seen):
        return "datetime"
    if all(isinstance(v, dt.date) for v in seen):
        return "date"
    if all(isinstance(v, str) for v in seen):
        if all(as_date(v) is not None for v in seen):
            return "date" if all(len(v) == 10 for v in seen) else "datetime"
        return "text"
    return "other"


def as_date(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str) and 10 <= len(value) <= 26:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _names(node: exp.Expression | None) -> list[str]:
    """Column names listed by a key or reference (identifiers, columns or ordered columns)."""
    if node is None:
        return []
    return [e.name for e in node.expressions if e.name]


def read_tables(context: str, db: ExampleDatabase, backend: str = "sqlite") -> list[Table] | None:
    """The tables of a built context (`db` an `ExampleDatabase`), in creation order, with their
    rows and declared keys; None when a table is too large to fuzz or its rows cannot be read.

    Keys and types come from the CREATE TABLE statements (sqlglot); a table whose statement
    sqlglot cannot read, or whose columns changed later (ALTER TABLE), is fuzzed without keys,
    its types guessed from its values.
    """
    declared: dict[str, exp.Schema] = {}
    for statement in split_statements(context, backend):
        if not starts_with_keyword(statement, "CREATE"):
            continue
        trees = parse_any(statement, backend) or []
        for tree in trees:
            if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE" \
                    and isinstance(tree.this, exp.Schema) and tree.expression is None:
                declared[tree.this.this.name.lower()] = tree.this
    tables = []
    for name in (t for t in db.schema if t.lower() in declared):
        result = db.run(f"SELECT * FROM {quote_ident(name)}", max_rows=MAX_TABLE_ROWS + 1)
        if not result.ok or len(result.rows) > MAX_TABLE_ROWS:
            log.debug("table %s not fuzzed: %s", name, result.error or "too many rows")
            return None
        tables.append(_table(name, list(result.columns), [tuple(r) for r in result.rows], declared[name.lower()]))
    return tables


def _table(name: str, columns: list[str], rows: list[tuple], schema: exp.Schema) -> Table:
    defs = {d.name.lower(): d for d in schema.expressions if isinstance(d, exp.ColumnDef)}
    if sorted(defs) != sorted(c.lower() for c in columns):
        defs = {}  # the table changed after its CREATE: no keys, types from the values
    out = Table(name, [], rows)
    for i, col in enumerate(columns):
        d = defs.get(col.lower())
        kinds = [c.kind for c in (d.constraints if d is not None else [])]
        out.columns.append(Column(col, _family(d.args.get("kind") if d is not None else None, (r[i] for r in rows)),
                                  any(isinstance(k, (exp.NotNullColumnConstraint, exp.PrimaryKeyColumnConstraint))
                                      and not k.args.get("allow_null") for k in kinds)))
        if any(isinstance(k, (exp.PrimaryKeyColumnConstraint, exp.UniqueColumnConstraint)) for k in kinds):
            out.unique_sets.append((i,))
        for k in kinds:
            if isinstance(k, exp.Reference) and isinstance(k.this, exp.Schema):
                refs = _names(k.this)
                out.references[i] = (k.this.this.name, refs[0] if refs else col)
    if not defs:
        return out
    for item in schema.expressions:
        if isinstance(item, exp.PrimaryKey) or (isinstance(item, exp.UniqueColumnConstraint)
                                                and isinstance(item.this, exp.Schema)):
            cols = [out.index(n) for n in _names(item if isinstance(item, exp.PrimaryKey) else item.this)]
            if cols and None not in cols:
                out.unique_sets.append(tuple(cols))  # type: ignore[arg-type]
                if isinstance(item, exp.PrimaryKey):
                    for c in cols:
                        out.columns[c].not_null = True  # type: ignore[index]
        elif isinstance(item, exp.ForeignKey):
            ref = item.args.get("reference")
            target = ref.this if isinstance(ref, exp.Reference) else None
            if isinstance(target, exp.Schema):
                for own, theirs in zip(_names(item), _names(target) or _names(item)):
                    c = out.index(own)
                    if c is not None:
                        out.references[c] = (target.this.name, theirs)
    return out


# --------------------------------------------------------------------------------------------
# What the gold looks at

@dataclass
class Hints:
    """The gold's literals per (table, column), the column pairs it joins on, the columns it
    groups by, the columns it orders by (in a query or a window: ties there make its outcome
    depend on row order) and its largest LIMIT."""

    literals: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    likes: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    links: list[tuple[tuple[str, str], tuple[str, str]]] = field(default_factory=list)
    groups: set[tuple[str, str]] = field(default_factory=set)
    ordered: set[tuple[str, str]] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)
    limit: int = 0  # the largest LIMIT of the gold: a variant needs more rows than that


def literal_value(node: exp.Expression) -> Any:
    """A constant's Python value (strings, numbers, booleans, negated numbers, casts of
    constants), or `NOT_CONSTANT`."""
    if isinstance(node, exp.Paren):
        return literal_value(node.this)
    if isinstance(node, exp.Cast):
        return literal_value(node.this)
    if isinstance(node, exp.Neg):
        inner = literal_value(node.this)
        return -inner if isinstance(inner, (int, float, Decimal)) and not isinstance(inner, bool) else NOT_CONSTANT
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        try:
            number = Decimal(node.this)
        except ArithmeticError:
            return NOT_CONSTANT
        return int(number) if number == number.to_integral_value() and "." not in node.this else float(number)
    return NOT_CONSTANT


NOT_CONSTANT = object()
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)


def gold_hints(gold: str, tables: list[Table], backend: str = "sqlite",
               evaluate: Callable[[exp.Expression], Any] | None = None) -> Hints:
    """What the gold filters, joins, groups and orders on, resolved to the fuzzed tables.

    A compared side that holds no column and is no plain literal (`10 + 30`, `DATE('now', '-1
    year')`) is worked out by `evaluate` (the executor on the original database), when given.
    """
    hints = Hints()

    def constant(node: exp.Expression | None) -> Any:
        if node is None:
            return NOT_CONSTANT
        value = literal_value(node)
        if value is NOT_CONSTANT and evaluate is not None and not node.find(exp.Column, exp.Select, exp.Star):
            value = evaluate(node)
        return value

    trees = parse_any(gold, backend) or []
    by_name = {t.name.lower(): t for t in tables}
    aliases: dict[str, str] = {}
    for tree in trees:
        for table in tree.find_all(exp.Table):
            if table.name.lower() in by_name:
                real = by_name[table.name.lower()].name
                hints.tables.add(real)
                aliases[table.name.lower()] = real
                if table.alias:
                    aliases[table.alias.lower()] = real

    def resolve(col: exp.Column) -> list[tuple[str, str]]:
        if col.table:
            owner = aliases.get(col.table.lower())
            table = by_name.get(owner.lower()) if owner else None
            return [(table.name, table.columns[i].name)] if table and (i := table.index(col.name)) is not None else []
        found = []
        for name in hints.tables or by_name:
            table = by_name[name.lower()]
            i = table.index(col.name)
            if i is not None:
                found.append((table.name, table.columns[i].name))
        return found

    def add(col: exp.Expression, values: Iterable[exp.Expression], into: dict) -> None:
        if not isinstance(col, exp.Column):
            return
        consts = [v for v in (constant(n) for n in values) if v is not NOT_CONSTANT]
        for key in resolve(col):
            into.setdefault(key, []).extend(consts)

    for tree in trees:
        for node in tree.walk():
            if isinstance(node, _COMPARISONS):
                left, right = node.this, node.expression
                if isinstance(left, exp.Column) and isinstance(right, exp.Column):
                    for a in resolve(left):
                        for b in resolve(right):
                            if a[0] != b[0]:
                                hints.links.append((a, b))
                add(left, [right], hints.literals)
                add(right, [left], hints.literals)
            elif isinstance(node, exp.Between):
                add(node.this, [node.args.get("low"), node.args.get("high")], hints.literals)
            elif isinstance(node, exp.In):
                add(node.this, node.expressions, hints.literals)
            elif isinstance(node, (exp.Like, exp.ILike)):
                add(node.this, [node.expression], hints.likes)
            elif isinstance(node, exp.Group):
                for col in node.find_all(exp.Column):
                    hints.groups.update(resolve(col))
            elif isinstance(node, exp.Order):  # of a query or of a window (ROW_NUMBER() OVER ...)
                for col in node.find_all(exp.Column):
                    hints.ordered.update(resolve(col))
            elif isinstance(node, exp.Limit) and node.expression is not None:
                count = literal_value(node.expression)
                if isinstance(count, int) and not isinstance(count, bool):
                    hints.limit = max(hints.limit, min(count, MAX_LIMIT_ROWS))
    return hints


# --------------------------------------------------------------------------------------------
# Values

def _shift_date(value: Any, days: int) -> Any:
    when = as_date(value)
    if when is None:
        return None
    moved = when + dt.timedelta(days=days)
    if isinstance(value, str):
        return moved.isoformat(sep=" ")[:len(value)] if len(value) > 10 else moved.date().isoformat()
    return moved if isinstance(value, dt.datetime) else moved.date()


def like_samples(pattern: str) -> list[str]:
    """Strings that match a LIKE pattern (wildcards filled in) and one that does not.

    >>> like_samples("%Eco%")
    ['Eco', 'xEcox', 'ECO', 'Ec']
    """
    core = pattern.replace("%", "").replace("_", "a")
    matching = [pattern.replace("%", "").replace("_", "a"), pattern.replace("%", "x").replace("_", "b")]
    # LIKE ignores ASCII case in both engines' default (SQLite) or not (DuckDB): the case variant
    # tells those apart from `=`; a truncated core matches nothing.
    return list(dict.fromkeys(matching + [core.upper(), core[:-1] if len(core) > 1 else core + "!"]))


def neighbours(value: Any, family: str) -> list[Any]:
    """Values next to a literal: ±1 (±0.5 too for reals), the day before and after, another
    case and an extended string."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, (int, float, Decimal)):
        out = [value - 1, value + 1]
        if family == "real" or isinstance(value, float):
            out += [float(value) - 0.5, float(value) + 0.5]
        return out
    if isinstance(value, str):
        moved = [_shift_date(value, -1), _shift_date(value, 1)] if as_date(value) is not None else []
        return [v for v in moved if v is not None] + [value.swapcase(), value + "x"]
    return []


def fresh_value(family: str, rng: random.Random, existing: list[Any]) -> Any:
    """A value of a column's type that its rows may not hold, near their range."""
    numbers = [v for v in existing if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)]
    low, high = (min(numbers), max(numbers)) if numbers else (0, 100)
    if family == "int":
        return rng.randint(int(low) - 2, int(high) + 2)
    if family == "real":
        return round(rng.uniform(float(low) - 1, float(high) + 1), 2)
    if family == "bool":
        return rng.random() < 0.5
    if family in ("date", "datetime"):
        dates = [d for d in map(as_date, existing) if d is not None]
        anchor = rng.choice(dates) if dates and rng.random() < 0.6 else DATE_ANCHOR
        moved = anchor - dt.timedelta(days=rng.randint(-400, 800))
        sample = next((v for v in existing if v is not None), None)
        if isinstance(sample, str) or sample is None:
            return moved.date().isoformat() if family == "date" or (sample and len(sample) == 10) \
                else moved.isoformat(sep=" ")
        return moved if isinstance(sample, dt.datetime) else moved.date()
    if family == "text" or not existing:
        return f"v{rng.randint(0, 10 ** rng.randint(1, 6))}"  # of several lengths: LENGTH() orders them
    return rng.choice(existing)


def distinct_value(family: str, rng: random.Random, existing: list[Any]) -> Any:
    """A fresh value of a column's type that none of its rows holds (no ties where it orders)."""
    taken = set(existing)
    value = fresh_value(family, rng, existing)
    for attempt in range(FRESH_ATTEMPTS):
        if value not in taken:
            return value
        value = fresh_value(family, rng, existing)
        if family in ("int", "real") and isinstance(value, (int, float)):
            value = value + rng.randint(1, 50 * (attempt + 1))  # the range is full: go beyond it
    return value


def sql_literal(value: Any) -> str:
    """A value as an SQL literal both engines read (dates as ISO strings)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "NULL"
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else "NULL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        value = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"
