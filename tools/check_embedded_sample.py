#!/usr/bin/env python3
"""Mechanical checks for src/sqlgrpo/data/embedded_sample.jsonl.

Checks field layout, counts (rows, schemas, domains, classes, DML), that every gold runs on
SQLite and DuckDB with the same result (multiset, or list when the query has a top-level
ORDER BY; numbers compared with a relative tolerance of 1e-6), that results are informative
(non-empty, not all NULL, WHERE clauses actually filter, DML changes rows), that results do
not depend on row storage order (ties under LIMIT / ROW_NUMBER), that the complexity label
matches the sqlglot AST, that every table/column referenced exists in the context, and that
the generator reproduces the committed file byte for byte.

Usage: python tools/check_embedded_sample.py [path/to/embedded_sample.jsonl]
Exits 1 on any failure.
"""

from __future__ import annotations

import collections
import decimal
import json
import math
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = ROOT / "src" / "sqlgrpo" / "data" / "embedded_sample.jsonl"
GENERATOR = ROOT / "tools" / "build_embedded_sample.py"

FIELDS = [
    "id", "domain", "domain_description", "sql_complexity", "sql_complexity_description",
    "sql_task_type", "sql_prompt", "sql_context", "sql", "sql_explanation",
]
CLASSES = [
    "basic SQL", "aggregation", "single join", "multiple_joins", "subqueries",
    "window functions", "CTEs", "set operations",
]
TASK_TYPES = ["analytics and reporting", "data retrieval", "data manipulation"]
MIN_ROWS, MIN_SCHEMAS, MIN_DOMAINS, MIN_PER_CLASS, MIN_DML = 320, 28, 20, 25, 30
REL_TOL = 1e-6
DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")
DATE_OK = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")

failures: list[str] = []


def fail(row_id, msg: str) -> None:
    failures.append(f"[id {row_id}] {msg}")


# ----------------------------------------------------------------------------- values


def norm(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (int, float)) or v is None:
        return v
    return str(v)


def same_value(a, b) -> bool:
    a, b = norm(a), norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-9)
    return a == b


def same_row(r1, r2) -> bool:
    return len(r1) == len(r2) and all(same_value(x, y) for x, y in zip(r1, r2))


def same_rows(rows1, rows2, ordered: bool) -> bool:
    if len(rows1) != len(rows2):
        return False
    if ordered:
        return all(same_row(a, b) for a, b in zip(rows1, rows2))
    remaining = list(rows2)
    for r in rows1:
        for i, s in enumerate(remaining):
            if same_row(r, s):
                del remaining[i]
                break
        else:
            return False
    return True


# ----------------------------------------------------------------------------- engines


def sqlite_db(context: str) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.executescript(context)
    return con


def sqlite_reversed_db(context: str, tables: list[str]) -> sqlite3.Connection:
    """Same data, rows stored in reverse order and without PRIMARY KEY (so rowid order flips)."""
    src = sqlite_db(context)
    con = sqlite3.connect(":memory:")
    creates = [s for s in sqlglot.parse(context, read="sqlite") if isinstance(s, exp.Create)]
    for c in creates:
        sql = c.sql(dialect="sqlite")
        con.execute(re.sub(r"\s+PRIMARY KEY", "", sql, flags=re.I))
    for t in tables:
        rows = src.execute(f"SELECT * FROM {t} ORDER BY rowid DESC").fetchall()
        if rows:
            marks = ",".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {t} VALUES ({marks})", rows)
    con.commit()
    return con


def duck_db(context: str):
    con = duckdb.connect()
    con.execute(context)
    return con


def dump_tables(con, tables):
    return {t: con.execute(f"SELECT * FROM {t}").fetchall() for t in tables}


# ----------------------------------------------------------------------------- context


def parse_context(row_id, context: str):
    """Return ({table: [cols]}, {table: n_rows}, null_count) or None."""
    try:
        stmts = sqlglot.parse(context, read="sqlite")
    except Exception as e:  # noqa: BLE001
        fail(row_id, f"context does not parse: {e}")
        return None
    cols: dict[str, list[str]] = {}
    nrows: dict[str, int] = collections.Counter()
    nulls = 0
    seen_insert = False
    for s in stmts:
        if isinstance(s, exp.Create):
            if seen_insert:
                fail(row_id, "CREATE TABLE after INSERT in context")
            schema = s.this
            name = schema.this.name.lower()
            cols[name] = [c.name.lower() for c in schema.expressions if isinstance(c, exp.ColumnDef)]
        elif isinstance(s, exp.Insert):
            seen_insert = True
            tname = s.this.this.name.lower() if isinstance(s.this, exp.Schema) else s.this.name.lower()
            values = s.expression
            if not isinstance(values, exp.Values):
                fail(row_id, "context INSERT is not a VALUES list")
                continue
            nrows[tname] += len(values.expressions)
            for lit in values.find_all(exp.Literal):
                if lit.is_string and DATE_LIKE.match(lit.this) and not DATE_OK.match(lit.this):
                    fail(row_id, f"bad date literal {lit.this!r}")
            nulls += sum(1 for _ in values.find_all(exp.Null))
        else:
            fail(row_id, f"unexpected statement in context: {type(s).__name__}")
    return cols, dict(nrows), nulls


# ----------------------------------------------------------------------------- AST features


def is_nested_select(sel: exp.Select) -> bool:
    node = sel
    while True:
        parent = node.parent
        if parent is None or isinstance(parent, exp.CTE):
            return False
        if isinstance(parent, (exp.SetOperation, exp.Insert)) and not isinstance(node, exp.With):
            node = parent
            continue
        return True


def features(tree: exp.Expression) -> dict:
    windows = list(tree.find_all(exp.Window))
    aggs = [a for a in tree.find_all(exp.AggFunc) if not a.find_ancestor(exp.Window)]
    return {
        "joins": len(list(tree.find_all(exp.Join))),
        "window": bool(windows),
        "with": bool(list(tree.find_all(exp.With))) or bool(list(tree.find_all(exp.CTE))),
        "setop": bool(list(tree.find_all(exp.SetOperation))),
        "subquery": any(is_nested_select(s) for s in tree.find_all(exp.Select))
        or bool(list(tree.find_all(exp.Subquery))),
        "agg": bool(aggs) or bool(list(tree.find_all(exp.Group))),
    }


def label_problem(label: str, f: dict) -> str | None:
    others = {k for k in ("window", "with", "setop", "subquery") if f[k]}
    if label == "basic SQL":
        if f["joins"] or f["agg"] or others:
            return f"basic SQL but has {f}"
    elif label == "aggregation":
        if not f["agg"] or f["joins"] or others:
            return f"aggregation needs aggregates and nothing else, got {f}"
    elif label == "single join":
        if f["joins"] != 1 or others:
            return f"single join needs exactly one JOIN and no other feature, got {f}"
    elif label == "multiple_joins":
        if f["joins"] < 2 or others:
            return f"multiple_joins needs >=2 JOINs and no other feature, got {f}"
    else:
        key = {"subqueries": "subquery", "window functions": "window", "CTEs": "with",
               "set operations": "setop"}[label]
        if not f[key]:
            return f"{label} but AST lacks {key}: {f}"
        if others - {key}:
            return f"{label} also uses {sorted(others - {key})}"
    return None


def check_names(row_id, tree: exp.Expression, schema: dict[str, list[str]]) -> None:
    cte_names = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    derived = set(cte_names)
    for a in tree.find_all(exp.Alias):
        derived.add(a.alias.lower())
    for ta in tree.find_all(exp.TableAlias):
        derived.add(ta.name.lower())
        derived.update(c.name.lower() for c in ta.columns)
    alias_to_table: dict[str, str] = {}
    used_tables: set[str] = set()
    for t in tree.find_all(exp.Table):
        name = t.name.lower()
        if name in cte_names:
            continue
        if name not in schema:
            fail(row_id, f"unknown table {name}")
            continue
        used_tables.add(name)
        alias_to_table[name] = name
        if t.alias:
            alias_to_table[t.alias.lower()] = name
    used_cols = set().union(*(schema[t] for t in used_tables)) if used_tables else set()
    for c in tree.find_all(exp.Column):
        if isinstance(c.this, exp.Star):
            continue
        name, qual = c.name.lower(), c.table.lower()
        if qual and qual in alias_to_table and qual not in cte_names:
            if name not in schema[alias_to_table[qual]]:
                fail(row_id, f"column {qual}.{name} not in table {alias_to_table[qual]}")
        elif name not in used_cols and name not in derived:
            fail(row_id, f"unknown column {name}")
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        tname = tree.this.this.name.lower()
        for ident in tree.this.expressions:
            if tname in schema and ident.name.lower() not in schema[tname]:
                fail(row_id, f"INSERT column {ident.name} not in {tname}")


# ----------------------------------------------------------------------------- per row


def is_dml(tree) -> bool:
    return isinstance(tree, (exp.Insert, exp.Update, exp.Delete))


def check_row(r: dict, schema_cols, tables, table_rows) -> bool:
    rid, sql, ctx = r["id"], r["sql"], r["sql_context"]
    if not sql.endswith(";"):
        fail(rid, "gold does not end with ';'")
    if '"' in sql or '"' in ctx:
        fail(rid, "double quote in sql/context")
    try:
        trees = sqlglot.parse(sql)
        trees = [t for t in trees if t is not None]
        assert len(trees) == 1
        tree = trees[0]
    except Exception as e:  # noqa: BLE001
        fail(rid, f"gold does not parse as one statement: {e}")
        return False
    dml = is_dml(tree)
    if dml != (r["sql_task_type"] == "data manipulation"):
        fail(rid, f"task type {r['sql_task_type']!r} vs DML={dml}")
    if not dml and not isinstance(tree, exp.Query):
        fail(rid, f"gold is neither a query nor DML: {type(tree).__name__}")
    prob = label_problem(r["sql_complexity"], features(tree))
    if prob:
        fail(rid, prob)
    check_names(rid, tree, schema_cols)

    ordered = isinstance(tree, exp.Query) and tree.args.get("order") is not None
    try:
        lite = sqlite_db(ctx)
        cur = lite.execute(sql)
        lite_rows = cur.fetchall() if not dml else None
        rowcount = cur.rowcount
        lite_state = dump_tables(lite, tables) if dml else None
    except Exception as e:  # noqa: BLE001
        fail(rid, f"SQLite error: {e}")
        return False
    try:
        duck = duck_db(ctx)
        duck.execute(sql)
        duck_rows = duck.fetchall() if not dml else None
        duck_state = dump_tables(duck, tables) if dml else None
    except Exception as e:  # noqa: BLE001
        fail(rid, f"DuckDB error: {e}")
        return False
    try:
        rev = sqlite_reversed_db(ctx, tables)
        rcur = rev.execute(sql)
        rev_rows = rcur.fetchall() if not dml else None
        rev_state = dump_tables(rev, tables) if dml else None
    except Exception as e:  # noqa: BLE001
        fail(rid, f"SQLite (reversed rows) error: {e}")
        return False

    if dml:
        if rowcount < 1:
            fail(rid, f"DML changes no row (rowcount={rowcount})")
        target = tree.this.this.name.lower() if isinstance(tree.this, exp.Schema) else tree.this.name.lower() if isinstance(tree.this, exp.Table) else None
        if isinstance(tree, (exp.Update, exp.Delete)) and target in table_rows and rowcount >= table_rows[target]:
            fail(rid, f"{type(tree).__name__} touches every row of {target}")
        for t in tables:
            if not same_rows(lite_state[t], duck_state[t], ordered=False):
                fail(rid, f"table {t} differs after DML between SQLite and DuckDB")
            if not same_rows(lite_state[t], rev_state[t], ordered=False):
                fail(rid, f"table {t} after DML depends on row storage order")
        return True

    if not lite_rows:
        fail(rid, "SELECT returns no row")
    elif all(v is None for row in lite_rows for v in row):
        fail(rid, "SELECT returns only NULLs")
    elif len(lite_rows) == 1 and len(lite_rows[0]) == 1 and lite_rows[0][0] == 0:
        fail(rid, "SELECT returns a single 0")
    if not same_rows(lite_rows, duck_rows, ordered):
        fail(rid, f"SQLite/DuckDB differ{' (ordered)' if ordered else ''}: {lite_rows[:5]} vs {duck_rows[:5]}")
    if not same_rows(lite_rows, rev_rows, ordered):
        fail(rid, f"result depends on row storage order: {lite_rows[:5]} vs {rev_rows[:5]}")
    # A top-level WHERE must filter something.
    if isinstance(tree, exp.Select) and tree.args.get("where") is not None:
        loose = tree.copy()
        loose.set("where", None)
        try:
            loose_rows = sqlite_db(ctx).execute(loose.sql(dialect="sqlite")).fetchall()
            if same_rows(lite_rows, loose_rows, ordered):
                fail(rid, "dropping the WHERE clause gives the same result")
        except Exception:  # noqa: BLE001  (e.g. WHERE references something needed elsewhere)
            pass
    return True


# ----------------------------------------------------------------------------- main


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    raw = path.read_bytes()
    lines = raw.decode("utf-8").splitlines()
    rows = []
    for i, line in enumerate(lines, 1):
        obj = json.loads(line)
        if list(obj.keys()) != FIELDS:
            fail(i, f"fields {list(obj.keys())} != {FIELDS}")
        if json.dumps(obj, ensure_ascii=False) != line:
            fail(i, "line is not json.dumps(obj, ensure_ascii=False)")
        rows.append(obj)

    for i, r in enumerate(rows, 1):
        if r.get("id") != i or not isinstance(r.get("id"), int):
            fail(i, f"id {r.get('id')!r} should be {i}")
        if r["sql_complexity"] not in CLASSES:
            fail(r["id"], f"bad sql_complexity {r['sql_complexity']!r}")
        if r["sql_task_type"] not in TASK_TYPES:
            fail(r["id"], f"bad sql_task_type {r['sql_task_type']!r}")
        for k in FIELDS[1:]:
            if not isinstance(r[k], str) or not r[k].strip():
                fail(r["id"], f"field {k} empty or not a string")

    # Schemas: distinct CREATE sets, one context per schema.
    schema_info = {}
    schema_of_row = {}
    contexts_by_schema = collections.defaultdict(set)
    domains_by_schema = collections.defaultdict(set)
    parsed_cache = {}
    for r in rows:
        ctx = r["sql_context"]
        if ctx not in parsed_cache:
            parsed_cache[ctx] = parse_context(r["id"], ctx)
        parsed = parsed_cache[ctx]
        if parsed is None:
            continue
        key = tuple(sorted(s.sql() for s in sqlglot.parse(ctx, read="sqlite") if isinstance(s, exp.Create)))
        schema_of_row[r["id"]] = key
        contexts_by_schema[key].add(ctx)
        domains_by_schema[key].add(r["domain"])
        schema_info[key] = parsed
    for key, ctxs in contexts_by_schema.items():
        if len(ctxs) != 1:
            fail("-", f"schema {key[0][:60]}... used with {len(ctxs)} different contexts")
        if len(domains_by_schema[key]) != 1:
            fail("-", f"schema {key[0][:60]}... has several domains")
        cols, nrows, _ = schema_info[key]
        if not 1 <= len(cols) <= 4:
            fail("-", f"schema with {len(cols)} tables: {sorted(cols)}")
        for t in cols:
            if not 5 <= nrows.get(t, 0) <= 12:
                fail("-", f"table {t} has {nrows.get(t, 0)} rows (want 5-12)")
    schemas_with_nulls = sum(1 for k in schema_info if schema_info[k][2] > 0)

    ok_exec = 0
    for r in rows:
        key = schema_of_row.get(r["id"])
        if key is None:
            continue
        cols, nrows, _ = schema_info[key]
        if check_row(r, cols, list(cols), nrows):
            ok_exec += 1

    # Duplicates.
    prompts = collections.Counter(r["sql_prompt"].strip().lower() for r in rows)
    for p, n in prompts.items():
        if n > 1:
            fail("-", f"question appears {n} times: {p[:80]}")
    pairs = collections.Counter((r["sql_prompt"], r["sql"]) for r in rows)
    for n in pairs.values():
        if n > 1:
            fail("-", f"(question, sql) pair appears {n} times")
    sqls = collections.Counter((schema_of_row.get(r["id"]), r["sql"]) for r in rows)
    for (_, s), n in sqls.items():
        if n > 1:
            fail("-", f"same gold used {n} times in one schema: {s[:80]}")

    # Counts.
    per_class = collections.Counter(r["sql_complexity"] for r in rows)
    dml_rows = [r for r in rows if r["sql_task_type"] == "data manipulation"]
    dml_classes = collections.Counter(r["sql_complexity"] for r in dml_rows)
    domains = {r["domain"] for r in rows}
    if len(rows) < MIN_ROWS:
        fail("-", f"only {len(rows)} rows (< {MIN_ROWS})")
    if len(schema_info) < MIN_SCHEMAS:
        fail("-", f"only {len(schema_info)} schemas (< {MIN_SCHEMAS})")
    if len(domains) < MIN_DOMAINS:
        fail("-", f"only {len(domains)} domains (< {MIN_DOMAINS})")
    for c in CLASSES:
        if per_class[c] < MIN_PER_CLASS:
            fail("-", f"class {c!r} has {per_class[c]} rows (< {MIN_PER_CLASS})")
    if len(dml_rows) < MIN_DML:
        fail("-", f"only {len(dml_rows)} DML rows (< {MIN_DML})")
    if len(dml_classes) < 2:
        fail("-", "DML rows are all in one class")
    if schemas_with_nulls < len(schema_info) // 3:
        fail("-", f"only {schemas_with_nulls} schemas contain NULLs")
    multi_table = sum(1 for k in schema_info if len(schema_info[k][0]) >= 2)

    # Generator reproducibility (only for the committed file).
    if path.resolve() == DEFAULT_PATH.resolve() and GENERATOR.exists():
        with tempfile.TemporaryDirectory() as d:
            outs = []
            for n in range(2):
                out = Path(d) / f"run{n}.jsonl"
                subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True,
                               capture_output=True)
                outs.append(out.read_bytes())
            if outs[0] != outs[1]:
                fail("-", "generator is not deterministic")
            if outs[0] != raw:
                fail("-", "committed file differs from generator output (re-run the generator)")

    print(f"file: {path}")
    print(f"rows: {len(rows)}  schemas: {len(schema_info)} ({multi_table} with >=2 tables, "
          f"{schemas_with_nulls} with NULLs)  domains: {len(domains)}")
    print("per class: " + ", ".join(f"{c}={per_class[c]}" for c in CLASSES))
    print(f"DML rows: {len(dml_rows)} (" + ", ".join(f"{c}={n}" for c, n in sorted(dml_classes.items())) + ")")
    print("task types: " + ", ".join(f"{t}={n}" for t, n in sorted(collections.Counter(r['sql_task_type'] for r in rows).items())))
    print(f"golds executed on SQLite+DuckDB: {ok_exec}/{len(rows)}")
    if failures:
        print(f"\nFAILED: {len(failures)} problem(s)")
        for f in failures:
            print("  " + f)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
