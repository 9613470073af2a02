"""SQL analysis on sqlglot's AST: bounded parsing, and the tables and columns a query uses.

Used by cleansing (does the gold reference only what its context defines?), the rewards
(structure, schema linking, reasoning), the near-miss edits and the answers built from a gold.
Nothing here runs SQL; `sqlgrpo.sql.executor` does that. A text is read in the backend's dialect
first, then in the flavours datasets mix (`dialect_order`).

    >>> refs = references("SELECT o.total FROM orders AS o WHERE o.id > 2", "sqlite")
    >>> sorted(refs.tables), sorted(refs.columns)
    (['orders'], [('orders', 'id'), ('orders', 'total')])
    >>> missing_references(refs, {"orders": ["id", "total"]})
    []
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from sqlgrpo.sql.dialects import BACKENDS, FALLBACK_DIALECTS

log = logging.getLogger(__name__)
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to Command" warnings

MAX_PARSE_CHARS = 20_000  # parsing is superlinear on hostile text; real queries are far shorter

# sqlglot dialect names for our backends and for the flavours `sqlgrpo.sql` transpiles from.
SQLGLOT_DIALECT = {"sqlite": "sqlite", "duckdb": "duckdb", "postgres": "postgres", "mysql": "mysql"}


def dialect_order(backend: str, ran_as: str | None = None) -> tuple[str, ...]:
    """The dialects to read a text in, most likely first: the flavour the executor had to
    transpile it from (`ExecResult.dialect`, when it did: sqlglot may also read MySQL's
    `DATE_FORMAT(...)` as SQLite, as an unknown function), the backend's own, the flavours
    datasets mix, then the other backend.

    >>> dialect_order("sqlite", ran_as="mysql")
    ('mysql', 'sqlite', 'postgres', 'duckdb')
    """
    first = [ran_as] if ran_as in FALLBACK_DIALECTS else []
    return tuple(dict.fromkeys([*first, backend, *FALLBACK_DIALECTS, *BACKENDS]))


def parse_statements(sql: str, dialect: str = "sqlite") -> list[exp.Expression] | None:
    """Every statement of `sql` as a sqlglot tree, or None when sqlglot cannot parse it (or it
    is longer than `MAX_PARSE_CHARS`). Never raises."""
    if not isinstance(sql, str) or len(sql) > MAX_PARSE_CHARS:
        return None
    try:
        trees = sqlglot.parse(sql, read=SQLGLOT_DIALECT.get(dialect, dialect))
    except Exception:  # noqa: BLE001 - ParseError, TokenError, RecursionError, internal errors
        return None
    trees = [t for t in trees if t is not None]
    if not trees or any(isinstance(t, exp.Command) for t in trees):
        return None  # exp.Command is sqlglot giving up on a statement, not a parse
    return trees


def parse_any(sql: str, backend: str = "sqlite", ran_as: str | None = None) -> list[exp.Expression] | None:
    """The statements of `sql` parsed in the first dialect of `dialect_order` that can, or None."""
    for dialect in dialect_order(backend, ran_as):
        trees = parse_statements(sql, dialect)
        if trees:
            return trees
    return None


# Statement kinds as sqlglot sees them (the executor records its own, from the engine).
SELECT_NODES = (exp.Select, exp.SetOperation, exp.Subquery)
STATEMENT_NODES = {exp.Insert: "insert", exp.Update: "update", exp.Delete: "delete"}


def statement_kinds(trees: list[exp.Expression]) -> tuple[str, ...]:
    """The kind of each statement: select, insert, update, delete or other (DDL, commands).

    >>> statement_kinds(parse_statements("SELECT 1; DELETE FROM t"))
    ('select', 'delete')
    """
    kinds = []
    for tree in trees:
        if isinstance(tree, SELECT_NODES):
            kinds.append("select")
        else:
            kinds.append(next((k for node, k in STATEMENT_NODES.items() if isinstance(tree, node)), "other"))
    return tuple(kinds)


# Structural elements counted by `structure_features`: feature name -> sqlglot node types.
STRUCTURE_NODES: dict[str, tuple[type, ...]] = {
    "join": (exp.Join,),
    "subquery": (exp.Subquery, exp.Exists),  # IN (...), scalar, derived tables, EXISTS
    "aggregate": (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max),
    "group_by": (exp.Group,),
    "having": (exp.Having,),
    "window": (exp.Window,),
    "cte": (exp.CTE,),
    "set_op": (exp.SetOperation,),
    "case": (exp.Case,),
    "order_by": (exp.Order,),
    "limit": (exp.Limit,),
    "distinct": (exp.Distinct,),
    "where": (exp.Where,),
}


def structure_features(trees: list[exp.Expression]) -> dict[str, int]:
    """Counts of structural elements, from the sqlglot AST (never from substrings)."""
    feats = dict.fromkeys(STRUCTURE_NODES, 0)
    for tree in trees:
        for node in tree.walk():
            for name, node_types in STRUCTURE_NODES.items():
                if isinstance(node, node_types):
                    feats[name] += 1
                    break
    return feats


def is_ordered(trees: list[exp.Expression] | None) -> bool:
    """Whether the final result of these statements is ordered (a top-level ORDER BY)."""
    if not trees:
        return False
    last = trees[-1]
    return isinstance(last, (exp.Select, exp.SetOperation)) and last.args.get("order") is not None


@dataclass
class References:
    """Names a query uses. Lower-cased; columns as (table, column) pairs once resolved.

    `unresolved_columns` are column names no visible source defines (maybe an alias, maybe a
    mistake); `unknown_qualifiers` are `x.col` references whose `x` is no visible source.
    """

    tables: set[str] = field(default_factory=set)
    columns: set[tuple[str, str]] = field(default_factory=set)
    unresolved_columns: set[str] = field(default_factory=set)
    quoted_unresolved: set[str] = field(default_factory=set)  # "x" that SQLite reads as a string
    unknown_qualifiers: set[str] = field(default_factory=set)


def references(sql: str, dialect: str = "sqlite", schema: dict[str, list[str]] | None = None) -> References | None:
    """The tables and columns `sql` references, resolved through sqlglot scopes so that CTE
    names, table aliases, derived-table columns and SELECT aliases are not taken for schema.

    `schema` (table -> columns) lets unqualified columns be attributed to the table that has
    them; without it they are attributed only when there is a single source table.
    Returns None when sqlglot cannot parse the text.
    """
    trees = parse_statements(sql, dialect)
    if trees is None:
        return None
    lower_schema = {t.lower(): {c.lower() for c in cols} for t, cols in (schema or {}).items()}
    refs = References()
    try:
        for tree in trees:
            _collect(tree, lower_schema, refs)
    except Exception:  # noqa: BLE001 - a tree sqlglot built but cannot scope
        log.debug("scope analysis failed for %r", sql[:200], exc_info=True)
        return None
    return refs


def references_any(sql: str, backend: str = "sqlite", schema: dict[str, list[str]] | None = None,
                   ran_as: str | None = None) -> References | None:
    """`references` in the first dialect of `dialect_order` that parses `sql`, or None."""
    for dialect in dialect_order(backend, ran_as):
        refs = references(sql, dialect, schema)
        if refs is not None:
            return refs
    return None


def missing_references(refs: References, schema: dict[str, list[str]], *,
                       quoted_strings: bool = True) -> list[str]:
    """What `refs` uses that `schema` lacks, as readable strings (empty list: all present).

    quoted_strings: treat an unresolved double-quoted name as a string literal, as SQLite and
    MySQL do (`WHERE country = "USA"`), instead of a missing column.
    """
    lower_schema = {t.lower(): {c.lower() for c in cols} for t, cols in schema.items()}
    missing = [f"table {t}" for t in sorted(refs.tables) if t not in lower_schema]
    missing += [f"column {t}.{c}" for t, c in sorted(refs.columns)
                if t in lower_schema and c not in lower_schema[t]]
    unresolved = refs.unresolved_columns - (refs.quoted_unresolved if quoted_strings else set())
    missing += [f"column {c}" for c in sorted(unresolved)]
    missing += [f"table alias {q}" for q in sorted(refs.unknown_qualifiers)]
    return missing


# --------------------------------------------------------------------------------------------

def _name(node: exp.Expression) -> str:
    return (node.name or "").lower()


def _collect(tree: exp.Expression, schema: dict[str, set[str]], refs: References) -> None:
    dml_sources: dict[str, str] = {}
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
        dml_sources = _collect_dml_root(tree, schema, refs)
    for scope in traverse_scope(tree):
        _collect_scope(scope, schema, refs, dml_sources)


def _table_sources(sources: dict) -> dict[str, str]:
    """alias -> real table name, for the sources of a scope that are tables (not CTEs)."""
    return {alias.lower(): _name(src) for alias, src in sources.items() if isinstance(src, exp.Table)}


def _collect_dml_root(tree: exp.Expression, schema: dict[str, set[str]], refs: References) -> dict[str, str]:
    """Tables and columns of an INSERT/UPDATE/DELETE outside its subqueries (sqlglot builds no
    scope for a DML root). Returns the aliases visible to its subqueries."""
    target = tree.this
    columns: list[exp.Expression] = []
    if isinstance(target, exp.Schema):  # INSERT INTO t (a, b)
        columns = list(target.expressions)
        target = target.this
    sources: dict[str, str] = {}
    if isinstance(target, exp.Table):
        sources[(target.alias_or_name or "").lower()] = _name(target)
        sources[_name(target)] = _name(target)
        refs.tables.add(_name(target))
    for table in tree.find_all(exp.Table):  # UPDATE ... FROM, DELETE ... USING
        if table.find_ancestor(exp.Select, exp.Subquery) is None and table is not target:
            sources[(table.alias_or_name or "").lower()] = _name(table)
            refs.tables.add(_name(table))
    target_name = _name(target) if isinstance(target, exp.Table) else ""
    for col in columns:  # INSERT column list: always the target's
        refs.columns.add((target_name, _name(col)))
    for col in tree.find_all(exp.Column):
        if col.find_ancestor(exp.Select) is not None or isinstance(col.this, exp.Star):
            continue  # inside a subquery: its own scope resolves it
        _resolve_column(col, sources, {}, schema, refs)
    return sources


def _collect_scope(scope: Scope, schema: dict[str, set[str]], refs: References, outer: dict[str, str]) -> None:
    tables = _table_sources(scope.sources)
    refs.tables.update(tables.values())
    derived = {alias.lower(): src for alias, src in scope.sources.items() if isinstance(src, Scope)}
    # Columns of enclosing queries are visible to correlated subqueries.
    visible = dict(outer)
    parent = scope.parent
    while parent is not None:
        for alias, name in _table_sources(parent.sources).items():
            visible.setdefault(alias, name)
        parent = parent.parent
    visible_all = {**tables, **{a: t for a, t in visible.items() if a not in tables}}  # inner first
    # Explicit SELECT aliases (`COUNT(*) AS n`), which ORDER BY / GROUP BY / HAVING may name.
    aliases = {e.alias.lower() for e in getattr(scope.expression, "expressions", []) or []
               if isinstance(e, exp.Alias)}
    own_select = scope.expression if isinstance(scope.expression, exp.Select) else None
    for col in scope.columns:
        if isinstance(col.this, exp.Star):
            continue
        if own_select is not None and col.find_ancestor(exp.Select) is not own_select:
            continue  # sqlglot also lists a subquery's columns here; that scope resolves them
        _resolve_column(col, visible_all, derived, schema, refs, aliases)


def _resolve_column(col: exp.Column, tables: dict[str, str], derived: dict[str, Scope],
                    schema: dict[str, set[str]], refs: References, aliases: set[str] = frozenset()) -> None:
    name = _name(col)
    qualifier = (col.table or "").lower()
    if qualifier:
        if qualifier in tables:
            refs.columns.add((tables[qualifier], name))
        elif qualifier not in derived:
            refs.unknown_qualifiers.add(qualifier)
        return
    owners = [t for t in dict.fromkeys(tables.values()) if name in schema.get(t, ())]
    if owners:
        refs.columns.add((owners[0], name))
        return
    if any(_derived_has(src, name) for src in derived.values()) or name in aliases:
        return  # a derived table's output column, or a SELECT alias (ORDER BY / HAVING)
    if not schema and len(set(tables.values())) == 1:
        refs.columns.add((next(iter(tables.values())), name))  # no schema: the only table
        return
    refs.unresolved_columns.add(name)
    identifier = col.this
    if isinstance(identifier, exp.Identifier) and identifier.quoted:
        refs.quoted_unresolved.add(name)


def _derived_has(scope: Scope, name: str) -> bool:
    expression = scope.expression
    selects = getattr(expression, "named_selects", None) or []
    if any(s.lower() == name for s in selects):
        return True
    # SELECT * from a derived table exposes whatever its sources expose: accept.
    return any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star))
               for s in getattr(expression, "expressions", []) or [])
