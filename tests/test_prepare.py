"""The prepare stage: cleansing, bad input, split, report, reuse, and the CLI around it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from sqlgrpo.cli import main
from sqlgrpo.common import paths
from sqlgrpo.data.sources import RawRecord
from sqlgrpo.sql import SQLExecutor
from sqlgrpo.stages.prepare import (
    CONTEXT_ERROR,
    DUPLICATE,
    SCHEMA_MISMATCH,
    PrepareError,
    PrepareOptions,
    clean_record,
    prepare,
)

CTX = "CREATE TABLE pets (id INT, name TEXT, kind TEXT); INSERT INTO pets VALUES (1, 'Rex', 'dog'), (2, 'Tom', 'cat');"


def _row(question: str, sql: str, context: str = CTX, **extra) -> dict:
    return {"sql_prompt": question, "sql_context": context, "sql": sql, **extra}


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _run(tmp_path: Path, source: Path | str, **kw) -> dict:
    return prepare(PrepareOptions(input=str(source), output_dir=str(tmp_path / "out"), **kw), progress=False)


# --- cleansing of single records ------------------------------------------------------------

def test_good_record_is_kept_with_added_fields():
    # Extra source fields survive; id-independent additions say how the gold ran.
    out = clean_record(RawRecord(1, _row("How many dogs?", "SELECT COUNT(*) FROM pets WHERE kind = 'dog'",
                                         domain="pets")), SQLExecutor())
    assert out.reason is None
    assert out.record["domain"] == "pets"
    assert out.record["dialect"] == "as_written" and out.record["statement_kind"] == "select"


def test_gold_that_fails_is_dropped_with_its_error_kind():
    out = clean_record(RawRecord(1, _row("Ages?", "SELECT age FROM pets")), SQLExecutor())
    assert out.reason == "gold_missing_column" and "age" in out.detail


def test_context_that_does_not_build_is_dropped():
    out = clean_record(RawRecord(1, _row("Any?", "SELECT 1", context="CREATE TABLE (oops")), SQLExecutor())
    assert out.reason == CONTEXT_ERROR


def test_gold_using_names_outside_the_context_is_a_schema_mismatch():
    # rowid runs in SQLite but no CREATE TABLE declares it: a model reading the context can't know it.
    out = clean_record(RawRecord(1, _row("First rowid?", "SELECT MIN(rowid) FROM pets")), SQLExecutor())
    assert out.reason == SCHEMA_MISMATCH and "rowid" in out.detail


def test_mysql_flavoured_gold_is_kept_after_transpiling_on_duckdb():
    # DuckDB reads "dog" as a column; transpiled from MySQL it is a string, and the row is kept.
    out = clean_record(RawRecord(1, _row("Dogs?", 'SELECT name FROM pets WHERE kind = "dog"')), SQLExecutor("duckdb"))
    assert out.reason is None and out.record["dialect"] == "mysql"


# --- the stage on files -----------------------------------------------------------------------

def test_shared_gretel_rows_keep_at_least_95_percent(tmp_path, shared_gretel_path):
    report = _run(tmp_path, shared_gretel_path)
    assert report["kept"] / report["records"] >= 0.95
    # Every dropped row is listed with a reason; the counts add up.
    assert len(report["dropped_rows"]) == report["records"] - report["kept"]
    assert all(d["reason"] and d["detail"] for d in report["dropped_rows"])
    assert sum(report["dropped"].values()) == len(report["dropped_rows"])


def test_ten_corrupted_lines_are_listed_and_good_rows_kept(tmp_path, shared_gretel_path):
    good = shared_gretel_path.read_text(encoding="utf-8").splitlines()[:120]
    corrupt = ['{"sql_prompt": "x", "sql"', '[1, 2]', '"just a string"', json.dumps({"sql_prompt": "q", "sql_context": CTX}),
               json.dumps(_row("q", None)), json.dumps(_row("q", 42)), json.dumps(_row("", "SELECT 1")),
               json.dumps(_row("q", "SELECT 1", context="   ")), None, '{"sql_prompt": "trunc']
    lines: list[str] = []
    bad_numbers = []
    for i, line in enumerate(good):
        lines.append(line)
        if i % 12 == 5:
            bad_numbers.append(len(lines) + 1)
            lines.append(corrupt[len(bad_numbers) - 1])
    path = tmp_path / "mixed.jsonl"
    with open(path, "wb") as f:
        for line in lines:
            f.write((b"\xff\xfe not utf8" if line is None else line.encode("utf-8")) + b"\n")
    clean = _run(tmp_path / "a", _write_jsonl(tmp_path / "good.jsonl", good))
    mixed = _run(tmp_path / "b", path)
    assert [b["line"] for b in mixed["bad_lines"]] == bad_numbers
    assert all(b["reason"] for b in mixed["bad_lines"])
    assert mixed["kept"] == clean["kept"]  # every good row survives as without the corruption


def test_default_prepare_writes_three_outputs_from_the_embedded_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SQLGRPO_DATA_DIR", raising=False)
    assert main(["prepare"]) == 0
    for name in (paths.TRAIN_FILE_NAME, paths.EVAL_FILE_NAME, paths.PREPARE_REPORT_NAME):
        assert (tmp_path / "data" / name).is_file()
    assert _read_jsonl(tmp_path / "data" / paths.TRAIN_FILE_NAME)


def test_zero_surviving_rows_is_an_error(tmp_path):
    path = _write_jsonl(tmp_path / "bad.jsonl", [_row("q", "SELECT nope FROM pets")])
    with pytest.raises(PrepareError, match="no row"):
        _run(tmp_path, path)
    assert main(["prepare", "--input", str(path), "--output-dir", str(tmp_path / "cli")]) != 0


def test_unreachable_hub_dataset_exits_non_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert main(["prepare", "--input", "nobody-xyz/no-such-dataset", "--output-dir", str(tmp_path)]) == 1


def test_duplicates_are_dropped_with_reason(tmp_path):
    rows = [_row("How many pets?", "SELECT COUNT(*) FROM pets"), _row("how many  pets?", "SELECT COUNT(*) FROM pets;"),
            _row("Names?", "SELECT name FROM pets")]
    report = _run(tmp_path, _write_jsonl(tmp_path / "d.jsonl", rows), eval_fraction=0.0)
    assert report["dropped"] == {DUPLICATE: 1}
    assert report["dropped_rows"][0]["line"] == 2


def _classed_rows(n: int) -> list[dict]:
    classes = ["basic SQL", "aggregation", "subqueries"]
    return [_row(f"Pet number {i}?", f"SELECT name FROM pets WHERE id = {i % 2 + 1} AND {i} = {i}",
                 sql_complexity=classes[i % 3], id=i) for i in range(n)]


def test_split_is_deterministic_and_stratified(tmp_path):
    path = _write_jsonl(tmp_path / "s.jsonl", _classed_rows(90))
    a = _run(tmp_path / "a", path, eval_fraction=0.2, seed=7)
    b = _run(tmp_path / "b", path, eval_fraction=0.2, seed=7)
    c = _run(tmp_path / "c", path, eval_fraction=0.2, seed=8)
    ids = lambda r: [x["id"] for x in _read_jsonl(Path(r["outputs"]["eval"]))]  # noqa: E731
    assert ids(a) == ids(b)  # same seed, same split
    assert ids(a) != ids(c)  # another seed, another split
    per_class = Counter(x["sql_complexity"] for x in _read_jsonl(Path(a["outputs"]["eval"])))
    assert per_class == {"basic SQL": 6, "aggregation": 6, "subqueries": 6}  # 20% of 30 each


def test_split_by_schema_keeps_each_schema_on_one_side(tmp_path):
    rows = []
    for s in range(10):
        ctx = f"CREATE TABLE t{s} (id INT, v TEXT); INSERT INTO t{s} VALUES (1, 'a'), (2, 'b');"
        rows += [_row(f"Q{s}-{k}?", f"SELECT v FROM t{s} WHERE id = {k % 2 + 1} AND {k} = {k}", context=ctx) for k in range(4)]
    report = _run(tmp_path, _write_jsonl(tmp_path / "s.jsonl", rows), eval_fraction=0.3, split_by="schema")
    tables = lambda f: {r["sql"].split("FROM ")[1].split()[0] for r in _read_jsonl(Path(f))}  # noqa: E731
    train, evals = tables(report["outputs"]["train"]), tables(report["outputs"]["eval"])
    assert evals and train and not (train & evals)


def test_rerun_reuses_outputs_unless_forced_or_changed(tmp_path):
    path = _write_jsonl(tmp_path / "r.jsonl", _classed_rows(12))
    first = _run(tmp_path, path)
    assert not first.get("reused")
    assert _run(tmp_path, path).get("reused") is True
    assert not _run(tmp_path, path, force=True).get("reused")
    assert not _run(tmp_path, path, seed=99).get("reused")  # other options: recomputed


def test_bad_options_name_the_option(tmp_path):
    with pytest.raises(ValueError, match="--eval-fraction"):
        _run(tmp_path, "embedded", eval_fraction=1.5)


def test_report_records_dialect_per_row_and_throughput(tmp_path):
    report = _run(tmp_path, _write_jsonl(tmp_path / "x.jsonl", _classed_rows(6)), eval_fraction=0.0)
    assert set(report["dialect_by_id"]) == {str(i) for i in range(6)}
    assert report["rows_per_s"] > 0
