"""Read a text-to-SQL dataset from wherever it lives and turn each row into a raw record.

This is the reading half of the `prepare` stage (`sqlgrpo prepare --source ...`); cleansing the
records by executing their SQL comes after, elsewhere. A source is one of:

- `embedded`: the small sample shipped inside the package (`sqlgrpo/data/embedded_sample.jsonl`);
- a local file, by extension: `.jsonl`, `.json`, `.csv` or `.parquet`;
- a folder laid out as a benchmark release (Spider, BIRD): its questions over database files,
  read by `sqlgrpo.data.benchmarks` (the caller passes how a record names its database file);
- a Hugging Face hub dataset id (`owner/name` or `name`) when no local file of that name exists.

The column layout (gretel or sql-create-context, see `LAYOUTS`) is detected from the columns, and
every row is mapped onto our field names. A row that cannot become a record (broken JSON, bytes
that are not UTF-8, a missing or empty required field, ...) becomes a `BadLine` with its line
number and the reason; it never crashes the run and is never dropped silently. Only a source that
is unusable as a whole (missing file, unknown layout, unreachable hub) raises `SourceError`.

JSONL and CSV are streamed line by line, Parquet batch by batch; a `.json` file is one document
and is read whole.

    loaded = load_source("train.jsonl", limit=1000)
    loaded.records[0].fields["sql"], [b.to_dict() for b in loaded.bad_lines]
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.data.benchmarks import Benchmark, BenchmarkError, load_benchmark

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("sql_prompt", "sql_context", "sql")

# Built-in column layouts, mapping source column -> our field name.
LAYOUTS: dict[str, dict[str, str]] = {
    # gretelai/synthetic_text_to_sql
    "gretel": {"sql_prompt": "sql_prompt", "sql_context": "sql_context", "sql": "sql"},
    # b-mc2/sql-create-context
    "sql-create-context": {"question": "sql_prompt", "context": "sql_context", "answer": "sql"},
}

EMBEDDED_SOURCE = "embedded"
EMBEDDED_FILE_NAME = "embedded_sample.jsonl"

# Local file kinds by extension. Compressed files are not accepted: decompress them first.
FILE_KINDS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
SUPPORTED_EXTENSIONS = ", ".join(FILE_KINDS)

# JSON/JSONL have no header: the layout is read from the keys of the first objects. A handful is
# enough to outvote one odd row at the top, and bounds what is held back before streaming on.
LAYOUT_PROBE_OBJECTS = 20
# How many bad lines an error message quotes when a file has no usable object at all.
BAD_LINES_QUOTED = 3
# Parquet is read in batches so a large file is never materialised as Python objects at once.
PARQUET_BATCH_ROWS = 1024
# The csv module's default field limit (128 KiB) is below some real sql_context cells (long INSERT
# lists); hitting it mid-field would desynchronise the reader. 64 MiB still stops a runaway
# unclosed quote from swallowing a multi-GB file into one field.
CSV_FIELD_SIZE_LIMIT = 64 * 1024 * 1024
# A JSON top-level object may wrap the rows under one of these keys (common dataset exports).
JSON_ROW_KEYS = ("data", "rows")

UTF8_BOM = b"\xef\xbb\xbf"
JSON_WHITESPACE = " \t\r\n"
# Hugging Face repo ids: `name` or `owner/name`, letters, digits, '-', '_' and '.'.
HUB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
# Reading text with errors="surrogateescape" turns each byte that is not UTF-8 into one of these.
ESCAPED_BYTE_PATTERN = re.compile("[\udc80-\udcff]")


class SourceError(SqlgrpoError, ValueError):
    """The source as a whole is unusable (missing file, unknown layout, hub unreachable...)."""


@dataclass
class BadLine:
    """An input row that could not become a record.

    `line` is 1-based: the physical line where the record starts for JSONL and CSV, the index in
    the array for JSON, the row index for Parquet and hub datasets, the place over all read
    questions for a benchmark folder, whose bad lines also name their `file` and 0-based `index`.
    """

    line: int
    reason: str
    file: str | None = None
    index: int | None = None

    def to_dict(self) -> dict:
        where = {} if self.file is None else {"file": self.file, "index": self.index}
        return {"line": self.line, **where, "reason": self.reason}


@dataclass
class RawRecord:
    """One input row mapped onto our field names.

    `fields` holds sql_prompt, sql_context and sql (strings, non-empty after strip, stored exactly
    as read) followed by every other source field under its own name.
    """

    line: int
    fields: dict


@dataclass
class LoadedSource:
    source: str  # what the user passed
    kind: str  # "embedded" | "jsonl" | "json" | "csv" | "parquet" | "hub" | "benchmark"
    layout: str  # key of LAYOUTS (or of sqlgrpo.data.benchmarks.LAYOUTS) that was detected
    records: list[RawRecord] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    lines_read: int = 0  # input rows examined, good + bad (blank lines are not rows)
    benchmark: Benchmark | None = None  # a benchmark folder's splits, databases and problems


# A reader yields (line, row) where row is whatever the line held (an object or not), or a BadLine
# when the row could not even be parsed.
Row = tuple[int, Any]


def embedded_dataset_path() -> Path:
    """The JSONL sample (gretel layout) shipped inside the package."""
    # setuptools installs the package as a directory (package-data, never a zip), so the resource
    # is a real file and its str() is its path.
    return Path(str(resources.files("sqlgrpo") / "data" / EMBEDDED_FILE_NAME))


def load_source(
    source: str | os.PathLike = EMBEDDED_SOURCE,
    *,
    limit: int | None = None,
    hub_split: str = "train",
    database_context: Callable[[str], str] | None = None,
    db_root: str | os.PathLike | None = None,
    eval_split: str | None = None,
) -> LoadedSource:
    """Read `source` into raw records and bad lines.

    `limit` stops after that many good records (in a benchmark folder: reads the first `limit`
    questions of each split); bad lines met before then are still reported. A benchmark folder
    needs `database_context` (`sqlgrpo.sql.database_files.file_context`: the context of a record
    whose database is a file) and takes `db_root` and `eval_split` (`load_benchmark`).
    Raises SourceError when the source as a whole cannot be used.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    name = os.fspath(source)

    if name == EMBEDDED_SOURCE:
        path = embedded_dataset_path()
        if not path.is_file():
            raise SourceError(
                f"the embedded dataset is missing from the installed package (expected {path}); "
                "reinstall sqlgrpo, or pass a dataset file or hub id as the source"
            )
        loaded = _load_file(name, EMBEDDED_SOURCE, path, "jsonl", limit)
    else:
        path = Path(name)
        suffix = path.suffix.lower()
        if path.is_dir():
            loaded = _load_benchmark(name, path, database_context, db_root, eval_split, limit)
        elif path.exists():
            if suffix not in FILE_KINDS:
                raise SourceError(
                    f"unsupported file type {suffix or '(no extension)'!r}: {path}; "
                    f"supported extensions: {SUPPORTED_EXTENSIONS}"
                )
            loaded = _load_file(name, FILE_KINDS[suffix], path, FILE_KINDS[suffix], limit)
        elif suffix in FILE_KINDS:
            raise SourceError(f"file not found: {path}")
        elif HUB_ID_PATTERN.fullmatch(name):
            loaded = _load_hub(name, hub_split, limit)
        else:
            raise SourceError(
                f"{name!r} is neither an existing file nor a hub dataset id; pass "
                f"{EMBEDDED_SOURCE!r}, a file ({SUPPORTED_EXTENSIONS}) or a hub id like owner/name"
            )

    log = logger.warning if loaded.bad_lines else logger.info
    log(
        "source %s: kind=%s layout=%s records=%d bad_lines=%d rows_read=%d",
        loaded.source,
        loaded.kind,
        loaded.layout,
        len(loaded.records),
        len(loaded.bad_lines),
        loaded.lines_read,
    )
    return loaded


def _load_benchmark(source: str, path: Path, database_context: Callable[[str], str] | None,
                    db_root: str | os.PathLike | None, eval_split: str | None, limit: int | None) -> LoadedSource:
    if database_context is None:
        raise SourceError(
            f"{path} is a folder: a benchmark's questions run on its database files, which only "
            "`sqlgrpo prepare --input DIR` turns into records; prepare it and pass the prepared file "
            f"(or pass one dataset file: {SUPPORTED_EXTENSIONS})"
        )
    try:
        bench = load_benchmark(path, database_context=database_context, db_root=db_root,
                               eval_split=eval_split, limit=limit)
    except BenchmarkError as error:
        raise SourceError(str(error)) from None
    bad = [BadLine(q.ordinal, q.reason, file=q.file, index=q.index) for q in bench.bad_questions]
    for problem in bench.problems:
        logger.warning("%s: %s: %s", path, problem.file, problem.reason)
    return LoadedSource(
        source=source, kind="benchmark", layout=bench.layout,
        records=[RawRecord(q.ordinal, q.fields) for q in bench.questions],
        bad_lines=sorted(bad, key=lambda b: b.line),
        lines_read=len(bench.questions) + len(bad), benchmark=bench,
    )


# ---------------------------------------------------------------------------------------------
# Readers: each turns one kind of input into (line, row) pairs, plus its columns when it has a
# header or schema (None for JSON/JSONL, whose layout is probed from the first objects).


def _load_file(
    source: str, kind: str, path: Path, reader_kind: str, limit: int | None
) -> LoadedSource:
    with ExitStack() as stack:
        if reader_kind == "jsonl":
            columns, rows = None, _jsonl_rows(stack.enter_context(path.open("rb")))
        elif reader_kind == "json":
            columns, rows = None, _json_rows(path)
        elif reader_kind == "csv":
            # newline="" lets the csv module see quoted line breaks; utf-8-sig drops a BOM.
            handle = stack.enter_context(
                path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
            )
            columns, rows = _csv_rows(handle, path)
        else:
            columns, rows = _parquet_rows(path, stack)
        return _collect(source, kind, str(path), rows, columns, limit)


def _jsonl_rows(handle: BinaryIO) -> Iterator[Row]:
    # Bytes, not text: each line is decoded on its own, strictly, so one line that is not UTF-8
    # is reported alone instead of failing the file, and only '\n' ends a line.
    for line_no, raw in enumerate(handle, start=1):
        if line_no == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield line_no, BadLine(line_no, f"bytes are not UTF-8 (at byte {error.start + 1})")
            continue
        if not text.strip(JSON_WHITESPACE):
            continue  # blank lines separate nothing and are not rows
        yield line_no, _parse_json_line(line_no, text)


def _parse_json_line(line_no: int, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        return BadLine(line_no, f"broken JSON: {error.msg} (column {error.colno})")
    except ValueError as error:  # e.g. an integer literal beyond Python's digit limit
        return BadLine(line_no, f"broken JSON: {error}")
    except RecursionError:
        return BadLine(line_no, "broken JSON: nested too deeply")


def _json_rows(path: Path) -> Iterator[Row]:
    data = path.read_bytes()  # one JSON document: it has to be parsed whole
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(
            f"{path}: bytes are not UTF-8 (at byte {error.start + 1}); re-save the file as UTF-8"
        ) from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        hint = (
            "; it looks like one object per line: name it .jsonl"
            if error.msg == "Extra data"
            else ""
        )
        raise SourceError(
            f"{path} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
            f"{hint}"
        ) from error
    except (ValueError, RecursionError) as error:
        raise SourceError(f"{path} is not valid JSON: {error}") from error

    if isinstance(document, dict):
        key = next((k for k in JSON_ROW_KEYS if isinstance(document.get(k), list)), None)
        if key is None:
            raise SourceError(
                f"{path}: a JSON object must hold the rows as a list under "
                f"{' or '.join(repr(k) for k in JSON_ROW_KEYS)}; found keys: "
                f"{', '.join(map(str, document)) or 'none'}. Or make the file an array of objects"
            )
        document = document[key]
    if not isinstance(document, list):
        raise SourceError(
            f"{path}: expected an array of objects, got {_type_name(document)}"
        )
    return enumerate(document, start=1)


def _csv_rows(handle: TextIO, path: Path) -> tuple[list[str], Iterator[Row]]:
    if csv.field_size_limit() < CSV_FIELD_SIZE_LIMIT:
        csv.field_size_limit(CSV_FIELD_SIZE_LIMIT)
    reader = csv.reader(handle)
    try:
        header = next((row for row in reader if row), None)
    except csv.Error as error:
        raise SourceError(f"{path}: broken CSV header (line {reader.line_num}): {error}") from error
    if header is None:
        raise SourceError(f"{path}: no header row; the first line must name the columns")
    if any(ESCAPED_BYTE_PATTERN.search(name) for name in header):
        raise SourceError(
            f"{path}: header (line {reader.line_num}) has bytes that are not UTF-8; "
            "re-save the file as UTF-8"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise SourceError(
            f"{path}: header (line {reader.line_num}) repeats column(s) "
            f"{', '.join(map(repr, duplicates))}; column names must be unique"
        )
    return header, _csv_records(reader, header)


def _csv_records(reader: Any, header: list[str]) -> Iterator[Row]:
    while True:
        # line_num counts physical lines consumed so far, so the next record starts one after;
        # a quoted field spanning lines moves it on by more than one.
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield start, BadLine(start, f"broken CSV: {error}")
            continue
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line is not a row
        if len(cells) != len(header):
            yield start, BadLine(start, f"has {len(cells)} columns, the header has {len(header)}")
            continue
        bad_bytes = _escaped_byte_reason(header, cells)
        yield start, BadLine(start, bad_bytes) if bad_bytes else dict(zip(header, cells))


def _escaped_byte_reason(header: list[str], cells: list[str]) -> str | None:
    for column, value in zip(header, cells):
        match = ESCAPED_BYTE_PATTERN.search(value)
        if match:
            offset = len(value[: match.start()].encode("utf-8", "surrogateescape")) + 1
            return f"bytes are not UTF-8 (column {column!r}, at byte {offset} of the field)"
    return None


def _parquet_rows(path: Path, stack: ExitStack) -> tuple[list[str], Iterator[Row]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise SourceError(f"{path} is not a readable Parquet file: {error}") from error
    stack.callback(parquet.close)

    def rows() -> Iterator[Row]:
        line = 0
        try:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                for row in batch.to_pylist():
                    line += 1
                    yield line, row
        except (pa.ArrowException, OSError) as error:
            raise SourceError(
                f"{path}: Parquet data unreadable after row {line}: {error}"
            ) from error

    return list(parquet.schema_arrow.names), rows()


def _load_hub(dataset_id: str, split: str, limit: int | None) -> LoadedSource:
    try:
        import datasets

        dataset = datasets.load_dataset(dataset_id, split=split)
    except Exception as error:  # any failure means the same to the user: no such dataset here
        raise SourceError(
            f"could not load hub dataset {dataset_id!r} (split {split!r}): the Hugging Face hub "
            f"could not be reached, or the dataset or split was not found "
            f"({type(error).__name__}: {error}). No local file named {dataset_id!r} exists "
            f"either; check the id and your network, or pass a local file ({SUPPORTED_EXTENSIONS})"
        ) from error
    columns = getattr(dataset, "column_names", None)
    rows = enumerate(dataset, start=1)
    return _collect(
        dataset_id, "hub", f"hub dataset {dataset_id!r}", rows,
        list(columns) if columns else None, limit,
    )


# ---------------------------------------------------------------------------------------------
# Layout detection and the per-row check shared by every reader.


def _collect(
    source: str,
    kind: str,
    where: str,
    rows: Iterable[Row],
    columns: list[str] | None,
    limit: int | None,
) -> LoadedSource:
    rows = iter(rows)
    if columns is not None:
        layout = _detect_layout([set(columns)], columns, where)
    else:
        probed, layout = _probe_layout(rows, where)
        rows = itertools.chain(probed, rows)

    loaded = LoadedSource(source=source, kind=kind, layout=layout)
    collisions: set[str] = set()
    for line, row in rows:
        if limit is not None and len(loaded.records) >= limit:
            break
        loaded.lines_read += 1
        item = row if isinstance(row, BadLine) else _to_record(line, row, layout, collisions)
        if isinstance(item, BadLine):
            loaded.bad_lines.append(item)
        else:
            loaded.records.append(item)
    if collisions:
        logger.warning(
            "%s: column(s) %s dropped: layout %r maps other columns onto those names",
            where, ", ".join(sorted(collisions)), layout,
        )
    return loaded


def _probe_layout(rows: Iterator[Row], where: str) -> tuple[list[Row], str]:
    """Read ahead to the first few objects and detect the layout from their keys."""
    probed: list[Row] = []
    key_sets: list[set[str]] = []
    keys_seen: dict[str, None] = {}  # insertion-ordered set, for the error message
    for line, row in rows:
        probed.append((line, row))
        if isinstance(row, dict):
            key_sets.append(set(row))
            keys_seen.update(dict.fromkeys(row))
            if len(key_sets) >= LAYOUT_PROBE_OBJECTS:
                break
    if not key_sets:
        bad = [r for _, r in probed if isinstance(r, BadLine)] + [
            BadLine(line, f"not an object (got {_type_name(r)})")
            for line, r in probed
            if not isinstance(r, BadLine)
        ]
        if not bad:
            raise SourceError(f"{where} holds no rows")
        bad.sort(key=lambda b: b.line)
        quoted = "; ".join(f"line {b.line}: {b.reason}" for b in bad[:BAD_LINES_QUOTED])
        raise SourceError(
            f"{where} has no JSON object to read the columns from ({len(bad)} bad rows; {quoted})"
        )
    return probed, _detect_layout(key_sets, list(keys_seen), where)


def _detect_layout(column_sets: list[set[str]], found: list[str], where: str) -> str:
    """The layout whose source columns are all present in the most column sets (first on ties)."""
    scores = {
        name: sum(set(mapping) <= columns for columns in column_sets)
        for name, mapping in LAYOUTS.items()
    }
    best = max(scores, key=scores.__getitem__)  # max() keeps the first of equal scores
    if scores[best] == 0:
        expected = "; ".join(
            f"{name}: {', '.join(mapping)}" for name, mapping in LAYOUTS.items()
        )
        raise SourceError(
            f"{where}: the columns match no known layout. Expected every column of one layout "
            f"({expected}); found: {', '.join(map(str, found)) or 'no columns'}. "
            "Rename the columns to one of these layouts"
        )
    return best


def _to_record(line: int, row: Any, layout: str, collisions: set[str]) -> RawRecord | BadLine:
    if not isinstance(row, dict):
        return BadLine(line, f"not an object (got {_type_name(row)})")
    mapping = LAYOUTS[layout]
    problems = []
    fields: dict[str, Any] = {}
    for column, name in mapping.items():
        label = repr(column) if column == name else f"{column!r} ({name})"
        if column not in row:
            problems.append(f"missing field {label}")
            continue
        value = row[column]
        if name in REQUIRED_FIELDS:
            if not isinstance(value, str):
                problems.append(
                    f"field {label} is {_type_name(value)}, expected a non-empty string"
                )
            elif not value.strip():
                problems.append(f"empty field {label}")
        fields[name] = value  # stored as read: validation strips, the record does not
    if problems:
        return BadLine(line, "; ".join(problems))
    for column, value in row.items():
        if column in mapping:
            continue
        if column in fields:  # e.g. a stray 'sql' column beside sql-create-context's 'answer'
            collisions.add(column)
            continue
        fields[column] = value
    return RawRecord(line=line, fields=fields)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
