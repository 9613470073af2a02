"""The embedded sample: big enough, balanced, and every gold both runs and is informative."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sqlgrpo.data.sources import embedded_dataset_path
from sqlgrpo.sql import SQLExecutor
from sqlgrpo.stages.prepare import PrepareOptions, prepare

CLASSES = ("basic SQL", "aggregation", "single join", "multiple_joins", "subqueries", "window functions", "CTEs",
           "set operations")
FIELDS = ("sql_prompt", "sql_context", "sql", "sql_complexity", "domain", "sql_task_type")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in embedded_dataset_path().read_text(encoding="utf-8").splitlines()]


def test_size_and_balance(rows):
    # At least 300 rows over 25 schemas; every complexity class has 15 rows or more; some DML.
    assert len(rows) >= 300
    assert len({r["sql_context"].split("INSERT")[0] for r in rows}) >= 25
    per_class = Counter(r["sql_complexity"] for r in rows)
    assert set(per_class) == set(CLASSES)
    assert min(per_class.values()) >= 15
    assert sum(1 for r in rows if r["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))) >= 15


def test_every_row_has_the_gretel_fields(rows):
    assert all(isinstance(r.get(f), str) and r[f].strip() for r in rows for f in FIELDS)


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_every_gold_runs_and_is_informative(rows, backend):
    # A SELECT must return a row and a DML statement change one, so a wrong answer can be told
    # apart from the right one by execution.
    ex = SQLExecutor(backend)
    failures = []
    for r in rows:
        res = ex.run(r["sql"], r["sql_context"])
        if not res.ok:
            failures.append((r["id"], res.error_kind, res.error))
        elif res.has_dml and res.rows_changed < 1:
            failures.append((r["id"], "dml changed nothing", r["sql"]))
        elif not res.has_dml and not res.rows:
            failures.append((r["id"], "select returned no row", r["sql"]))
    assert failures == []


def test_every_row_survives_prepare(tmp_path, rows):
    report = prepare(PrepareOptions(output_dir=str(tmp_path)), progress=False)
    assert report["kept"] == len(rows) and report["bad_lines_count"] == 0
