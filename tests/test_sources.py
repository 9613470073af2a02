"""Tests for sqlgrpo.data.sources: every reader, layout detection, and per-row bad-line reporting."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sqlgrpo.data.sources import (
    EMBEDDED_SOURCE,
    LAYOUTS,
    BadLine,
    SourceError,
    embedded_dataset_path,
    load_source,
)


def gretel_row(n: int, **extra) -> dict:
    return {
        "sql_prompt": f"How many rows are in t{n}?",
        "sql_context": f"CREATE TABLE t{n} (id INT); INSERT INTO t{n} VALUES (1);",
        "sql": f"SELECT COUNT(*) FROM t{n};",
        **extra,
    }


def create_context_row(n: int, **extra) -> dict:
    return {
        "question": f"How many rows are in t{n}?",
        "context": f"CREATE TABLE t{n} (id INT)",
        "answer": f"SELECT COUNT(*) FROM t{n}",
        **extra,
    }


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- each reader reads good rows ------------------------------------------------------------


def test_jsonl_reads_good_rows(tmp_path):
    # Three valid gretel objects, one per line: three records on lines 1..3, nothing bad.
    loaded = load_source(write_jsonl(tmp_path / "d.jsonl", [gretel_row(i) for i in range(3)]))
    assert (loaded.kind, loaded.lines_read, loaded.bad_lines) == ("jsonl", 3, [])
    assert [r.line for r in loaded.records] == [1, 2, 3]
    assert loaded.records[2].fields["sql"] == "SELECT COUNT(*) FROM t2;"


def test_json_array_reads_good_rows(tmp_path):
    # A whole-file array: line numbers are 1-based indexes in the array.
    path = tmp_path / "d.json"
    path.write_text(json.dumps([gretel_row(i) for i in range(3)]), encoding="utf-8")
    loaded = load_source(path)
    assert loaded.kind == "json"
    assert [r.fields["sql_prompt"] for r in loaded.records] == [
        gretel_row(i)["sql_prompt"] for i in range(3)
    ]


@pytest.mark.parametrize("key", ["data", "rows"])
def test_json_object_with_row_list_reads_rows(tmp_path, key):
    # Exports often wrap the array in {"data": [...]} or {"rows": [...]}; both are unwrapped.
    path = tmp_path / "d.json"
    path.write_text(json.dumps({key: [gretel_row(1), gretel_row(2)], "version": 3}), "utf-8")
    assert len(load_source(path).records) == 2


def test_json_non_object_element_is_bad_line(tmp_path):
    # Element 2 is a list: reported by its 1-based array index, the others still load.
    path = tmp_path / "d.json"
    path.write_text(json.dumps([gretel_row(1), ["x"], gretel_row(3)]), encoding="utf-8")
    loaded = load_source(path)
    assert [b.to_dict() for b in loaded.bad_lines] == [
        {"line": 2, "reason": "not an object (got list)"}
    ]
    assert [r.line for r in loaded.records] == [1, 3]


def test_csv_reads_good_rows(tmp_path):
    # Header on line 1, so the records start on lines 2 and 3.
    loaded = load_source(write_csv(tmp_path / "d.csv", [gretel_row(1), gretel_row(2)]))
    assert (loaded.kind, loaded.layout) == ("csv", "gretel")
    assert [r.line for r in loaded.records] == [2, 3]
    assert loaded.records[0].fields == gretel_row(1)


def test_parquet_reads_good_rows(tmp_path):
    # Parquet rows are numbered by 1-based row index; values come back as Python objects.
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([gretel_row(i) for i in range(4)]), path)
    loaded = load_source(path)
    assert (loaded.kind, loaded.lines_read, loaded.bad_lines) == ("parquet", 4, [])
    assert [r.line for r in loaded.records] == [1, 2, 3, 4]
    assert loaded.records[3].fields["sql_context"] == gretel_row(3)["sql_context"]


def test_parquet_null_sql_is_bad_line(tmp_path):
    # Row 2 has a null sql (a nullable string column): that row alone is bad, by row index.
    rows = [gretel_row(1), {**gretel_row(2), "sql": None}, gretel_row(3)]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    loaded = load_source(path)
    assert [b.to_dict() for b in loaded.bad_lines] == [
        {"line": 2, "reason": "field 'sql' is null, expected a non-empty string"}
    ]


# --- layouts --------------------------------------------------------------------------------


def test_gretel_layout_detected(tmp_path):
    # Columns sql_prompt/sql_context/sql are exactly gretel's.
    loaded = load_source(write_jsonl(tmp_path / "d.jsonl", [gretel_row(1)]))
    assert loaded.layout == "gretel"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_sql_create_context_layout_mapped(tmp_path, suffix):
    # question/context/answer are renamed to our names; the source names do not survive.
    rows = [create_context_row(1)]
    path = tmp_path / f"d{suffix}"
    (write_jsonl if suffix == ".jsonl" else write_csv)(path, rows)
    loaded = load_source(path)
    assert loaded.layout == "sql-create-context"
    assert loaded.records[0].fields == {
        "sql_prompt": rows[0]["question"],
        "sql_context": rows[0]["context"],
        "sql": rows[0]["answer"],
    }


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_unknown_layout_error_names_expected_and_found_columns(tmp_path, suffix):
    # Neither layout's columns are all present, so the file as a whole is unusable; the message
    # must say what each layout expects and what the file has, so the user can rename columns.
    rows = [{"q": "how many?", "schema": "CREATE TABLE t (id INT)", "query": "SELECT 1"}]
    path = tmp_path / f"d{suffix}"
    (write_jsonl if suffix == ".jsonl" else write_csv)(path, rows)
    with pytest.raises(SourceError) as caught:
        load_source(path)
    message = str(caught.value)
    for expected in [*LAYOUTS["gretel"], *LAYOUTS["sql-create-context"], "q", "schema", "query"]:
        assert f"{expected}" in message
    assert str(path) in message


# --- bad lines ------------------------------------------------------------------------------


def test_jsonl_ten_corrupted_lines_reported_exactly(tmp_path):
    # Ten kinds of damage among good lines. Every good line must load, and the bad-line list must
    # be exactly the ten damaged line numbers; the blank line 15 is neither good nor bad.
    good = lambda n: json.dumps(gretel_row(n)).encode()  # noqa: E731
    lines = [
        good(1),  # 1
        b'{"sql_prompt": "a" "sql_context": "b", "sql": "c"}',  # 2 broken JSON
        b'["sql_prompt", "sql_context", "sql"]',  # 3 a JSON array
        b'"just a string"',  # 4 a JSON string
        good(5),  # 5
        json.dumps({"sql_prompt": "a", "sql_context": "b"}).encode(),  # 6 missing sql
        json.dumps({**gretel_row(7), "sql": None}).encode(),  # 7 sql null
        json.dumps({**gretel_row(8), "sql": 42}).encode(),  # 8 sql a number
        good(9),  # 9
        json.dumps({**gretel_row(10), "sql_prompt": ""}).encode(),  # 10 empty prompt
        json.dumps({**gretel_row(11), "sql_context": " \t "}).encode(),  # 11 whitespace context
        b'{"sql_prompt": "caf\xe9", "sql_context": "b", "sql": "c"}',  # 12 Latin-1 byte
        good(13),  # 13
        good(14),  # 14
        b"",  # 15 blank: skipped, not bad
        good(16),  # 16
        b'{"sql_prompt": "cut off", "sql_cont',  # 17 truncated last line, no newline
    ]
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join(lines))
    loaded = load_source(path)

    assert [r.line for r in loaded.records] == [1, 5, 9, 13, 14, 16]
    reasons = {b.line: b.reason for b in loaded.bad_lines}
    assert sorted(reasons) == [2, 3, 4, 6, 7, 8, 10, 11, 12, 17]
    assert reasons[2].startswith("broken JSON: Expecting ',' delimiter (column ")
    assert reasons[3] == "not an object (got list)"
    assert reasons[4] == "not an object (got str)"
    assert reasons[6] == "missing field 'sql'"
    assert reasons[7] == "field 'sql' is null, expected a non-empty string"
    assert reasons[8] == "field 'sql' is int, expected a non-empty string"
    assert reasons[10] == "empty field 'sql_prompt'"
    assert reasons[11] == "empty field 'sql_context'"
    assert reasons[12] == "bytes are not UTF-8 (at byte 20)"  # 0xE9 is the 20th byte
    assert reasons[17].startswith("broken JSON: Unterminated string")
    assert loaded.lines_read == 16  # every line but the blank one


def test_bad_line_reason_names_source_column_when_renamed(tmp_path):
    # In the sql-create-context layout the user's file has 'answer', not 'sql': the reason names
    # the column they can find in their file, and our field in brackets.
    rows = [create_context_row(1), {"question": "q", "context": "c"}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    assert load_source(path).bad_lines == [BadLine(2, "missing field 'answer' (sql)")]


def test_csv_multiline_field_keeps_line_numbers(tmp_path):
    # A quoted sql_context spanning three physical lines (2-4) pushes the next records down; the
    # bad records must be reported at the line where each starts, not by record count.
    path = tmp_path / "d.csv"
    path.write_text(
        "sql_prompt,sql_context,sql\n"  # 1
        'q1,"CREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n'  # 2-3
        'INSERT INTO a VALUES (2);",SELECT x FROM a\n'  # 4
        "q2,CREATE TABLE b (y INT),SELECT y FROM b\n"  # 5
        "q3,only two columns\n"  # 6 bad: 2 columns
        'q4,"CREATE TABLE c (z INT);\nINSERT INTO c VALUES (3);",SELECT z FROM c\n'  # 7-8
        "q5,CREATE TABLE d (w INT),\n",  # 9 bad: empty sql
        encoding="utf-8",
    )
    loaded = load_source(path)
    assert [r.line for r in loaded.records] == [2, 5, 7]
    assert [b.to_dict() for b in loaded.bad_lines] == [
        {"line": 6, "reason": "has 2 columns, the header has 3"},
        {"line": 9, "reason": "empty field 'sql'"},
    ]
    assert "\nINSERT INTO a VALUES (2);" in loaded.records[0].fields["sql_context"]


def test_csv_invalid_utf8_record_is_bad_line(tmp_path):
    # Line 3 holds a Latin-1 byte in the sql column: that record alone is bad, with the column.
    path = tmp_path / "d.csv"
    path.write_bytes(
        b"sql_prompt,sql_context,sql\n"
        b"q1,CREATE TABLE a (x INT),SELECT x FROM a\n"
        b"q2,CREATE TABLE b (y INT),SELECT 'caf\xe9' FROM b\n"
        b"q3,CREATE TABLE c (z INT),SELECT z FROM c\n"
    )
    loaded = load_source(path)
    assert [r.line for r in loaded.records] == [2, 4]
    assert loaded.bad_lines == [
        BadLine(3, "bytes are not UTF-8 (column 'sql', at byte 12 of the field)")
    ]


def test_utf8_bom_is_tolerated(tmp_path):
    # Windows tools write a BOM; without stripping it the first key would be '\ufeffsql_prompt'
    # and line 1 would be reported as missing sql_prompt.
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps(gretel_row(1)).encode() + b"\n")
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes(
        b"\xef\xbb\xbfsql_prompt,sql_context,sql\nq,CREATE TABLE t (x INT),SELECT 1\n"
    )
    assert [len(load_source(p).records) for p in (jsonl, csv_path)] == [1, 1]


def test_surrogates_and_nul_in_json_strings_are_kept(tmp_path):
    # "\ud800" and "\u0000" are valid JSON escapes; judging them is a later stage's job.
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"sql_prompt": "odd \\ud800 char", "sql_context": "CREATE TABLE t (x INT)", '
        '"sql": "SELECT \'\\u0000\'"}\n',
        encoding="utf-8",
    )
    fields = load_source(path).records[0].fields
    assert (fields["sql_prompt"], fields["sql"]) == ("odd \ud800 char", "SELECT '\x00'")


def test_values_are_not_stripped(tmp_path):
    # Validation strips to check emptiness; the stored value is exactly what the file holds.
    row = {**gretel_row(1), "sql": "  SELECT 1;\n"}
    loaded = load_source(write_jsonl(tmp_path / "d.jsonl", [row]))
    assert loaded.records[0].fields["sql"] == "  SELECT 1;\n"


def test_extra_fields_are_kept(tmp_path):
    # Gretel's other columns (id, domain, sql_complexity, ...) travel with the record unchanged.
    row = gretel_row(1, id=5097, domain="energy", sql_complexity="basic SQL")
    fields = load_source(write_jsonl(tmp_path / "d.jsonl", [row])).records[0].fields
    assert fields == row


def test_extra_field_never_overwrites_a_mapped_name(tmp_path):
    # A stray 'sql' column beside sql-create-context's 'answer' would clobber the mapped gold SQL.
    row = create_context_row(1, sql="SELECT 'stray'", source="wikisql")
    fields = load_source(write_jsonl(tmp_path / "d.jsonl", [row])).records[0].fields
    assert (fields["sql"], fields["source"]) == (row["answer"], "wikisql")


# --- limit ----------------------------------------------------------------------------------


def test_limit_stops_after_n_good_records(tmp_path):
    # Line 2 is bad and comes before the 2nd good record, so it is reported; reading stops at
    # line 3, so lines 4-5 are neither records nor counted.
    rows = [gretel_row(1), {"sql_prompt": "x"}, gretel_row(3), gretel_row(4), gretel_row(5)]
    loaded = load_source(write_jsonl(tmp_path / "d.jsonl", rows), limit=2)
    assert [r.line for r in loaded.records] == [1, 3]
    assert [b.line for b in loaded.bad_lines] == [2]
    assert loaded.lines_read == 3


# --- whole-source errors --------------------------------------------------------------------


def test_missing_file_is_source_error(tmp_path):
    # A known extension means the user meant a file, so it is not tried as a hub id.
    path = tmp_path / "nope.jsonl"
    with pytest.raises(SourceError, match="file not found") as caught:
        load_source(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("name", ["d.txt", "d.jsonl.gz"])
def test_unknown_extension_is_source_error(tmp_path, name):
    # An existing file of another type is refused, naming it and listing what is supported.
    path = tmp_path / name
    path.write_text("whatever", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_source(path)
    message = str(caught.value)
    assert str(path) in message
    assert all(ext in message for ext in (".jsonl", ".json", ".csv", ".parquet"))


def test_invalid_json_file_is_source_error(tmp_path):
    # A .json file is one document: if it does not parse, nothing in it can be trusted. This one
    # is really JSON Lines, so the message suggests the .jsonl name.
    path = write_jsonl(tmp_path / "d.json", [gretel_row(1), gretel_row(2)])
    with pytest.raises(SourceError, match=r"not valid JSON.*\.jsonl") as caught:
        load_source(path)
    assert str(path) in str(caught.value)


def test_unreachable_hub_id_is_source_error(monkeypatch):
    # No local file has this name and it looks like owner/name, so it goes to the hub; offline
    # mode makes that fail at once, and the error keeps the original as its cause.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The libraries read that variable once, at import: if another test imported them first, set
    # the flags they already computed from it, or the call sits through ~25 s of network retries.
    for module_name in ("huggingface_hub.constants", "datasets.config"):
        if module_name in sys.modules:
            monkeypatch.setattr(sys.modules[module_name], "HF_HUB_OFFLINE", True)
    dataset_id = "sqlgrpo-tests/no-such-dataset"
    with pytest.raises(SourceError, match="hub") as caught:
        load_source(dataset_id)
    assert dataset_id in str(caught.value)
    assert caught.value.__cause__ is not None


# --- real data ------------------------------------------------------------------------------


def test_embedded_source_loads():
    # The shipped sample is JSONL in gretel layout and must load without a single bad line.
    if not embedded_dataset_path().is_file():
        pytest.skip(f"embedded sample not written yet: {embedded_dataset_path()}")
    loaded = load_source(EMBEDDED_SOURCE)
    assert (loaded.kind, loaded.layout, loaded.bad_lines) == ("embedded", "gretel", [])
    assert loaded.records


def test_shared_gretel_sample_loads_clean(shared_gretel_path):
    # 900 real gretel rows: messy SQL, but every row has the three fields as non-empty strings.
    loaded = load_source(shared_gretel_path)
    assert (loaded.layout, len(loaded.records), loaded.bad_lines) == ("gretel", 900, [])
    assert loaded.lines_read == 900
