"""Benchmark folders (Spider, BIRD): their questions as records over real database files.

`sqlgrpo prepare --input DIR` reads a folder laid out as a benchmark release
(`sqlgrpo.data.sources` hands a directory to `load_benchmark`):

- Spider: `DIR/{train_spider.json, train_others.json, dev.json, tables.json,
  database/<db_id>/<db_id>.sqlite}`, also `test.json` over `test_database/` (and
  `test_tables.json`), or any one of those splits alone (Spider-Syn, Spider-DK and
  Spider-Realistic ship a `dev.json` over Spider's databases: point `db_root` at them). A
  question needs `db_id`, `question` and `query`.
- BIRD: `DIR/{train.json, dev.json, mini_dev_sqlite.json}` over `train_databases/` or
  `dev_databases/` (and `train_tables.json`, `dev_tables.json`). A question needs `db_id`,
  `question` and `SQL`; `evidence` and `difficulty` are optional.

A split is read whole and in its file's order: no deduplication and no re-split. The train
splits go to the training file, one split (`dev` unless `eval_split` names another) to the eval
file, and the others are counted but not read. Each question becomes one record (`RECORD_FIELDS`
below) whose `sql_context` stands for its database file; what that context looks like is the SQL
layer's business (`sqlgrpo.sql.database_files.file_context`), so the caller passes it in as
`database_context`. Other fields of a question (Spider's token lists and parse tree, whose `sql`
key would collide with ours) are not carried.

What cannot become a record is reported by name and never stops the others: a question that is
not an object or lacks a field, or whose `db_id` has no database file, is a bad question (file,
index, reason); a missing or unreadable split file, a missing database folder, and a tables file
that is broken or has no entry for a database are folder problems. Whether a database file is
really SQLite, and whether it agrees with its tables file, needs the SQL layer: `prepare` checks
those, once per file, from `Benchmark.databases`.

    bench = load_benchmark("spider", database_context=file_context)
    bench.splits[0].to_dict(), bench.questions[0].fields["db_file"], bench.problems
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlgrpo.common.errors import SqlgrpoError

SPIDER, BIRD = "spider", "bird"
TRAIN, EVAL, UNUSED = "train", "eval", "unused"  # what becomes of a split
DATABASE_SUFFIX = ".sqlite"  # <databases folder>/<db_id>/<db_id>.sqlite in both releases
# The split read as the eval file when none is named: the official dev set, else the others.
EVAL_SPLIT_PREFERENCE = ("dev", "mini_dev_sqlite", "test")
UTF8_BOM = "\ufeff"

# The record fields besides sql_prompt, sql_context and sql, in the order they are written.
RECORD_FIELDS = ("id", "benchmark", "split", "source_file", "source_index", "db_id", "db_path", "db_file",
                 "question", "evidence", "sql_complexity", "question_id")
EXTERNAL_KNOWLEDGE = "\nExternal knowledge: "  # BIRD's prompt convention: the question, then its evidence


@dataclass(frozen=True)
class SplitLayout:
    """One question file of a release and where its databases and schema descriptions live
    (each a list of places, the first that exists wins)."""

    file: str
    databases: tuple[str, ...]
    tables: tuple[str, ...]
    train: bool = False

    @property
    def name(self) -> str:
        return Path(self.file).stem


@dataclass(frozen=True)
class Layout:
    """A benchmark release: its splits, the gold's field name, and the entries that identify it."""

    name: str
    splits: tuple[SplitLayout, ...]
    sql_field: str
    markers: tuple[str, ...]

    def describe(self) -> str:
        databases = sorted({d for s in self.splits for d in s.databases})
        return (f"{self.name}: one or more of {', '.join(s.file for s in self.splits)} with "
                f"{' or '.join(d + '/' for d in databases)}<db_id>/<db_id>{DATABASE_SUFFIX}")


LAYOUTS: dict[str, Layout] = {
    SPIDER: Layout(SPIDER, (
        SplitLayout("train_spider.json", ("database",), ("tables.json",), train=True),
        SplitLayout("train_others.json", ("database",), ("tables.json",), train=True),
        SplitLayout("dev.json", ("database",), ("tables.json",)),
        # test_database/ holds every database of the release; older copies keep them in database/
        SplitLayout("test.json", ("test_database", "database"), ("test_tables.json", "tables.json")),
    ), sql_field="query", markers=("database", "test_database", "train_spider.json", "train_others.json",
                                   "test.json", "tables.json")),
    BIRD: Layout(BIRD, (
        SplitLayout("train.json", ("train_databases",), ("train_tables.json",), train=True),
        SplitLayout("dev.json", ("dev_databases",), ("dev_tables.json",)),
        SplitLayout("mini_dev_sqlite.json", ("dev_databases",), ("dev_tables.json",)),
    ), sql_field="SQL", markers=("train_databases", "dev_databases", "train.json", "mini_dev_sqlite.json",
                                 "dev_tables.json", "train_tables.json")),
}
# Spider's train split comes as two files; one without the other is reported as missing.
SPLIT_PAIRS = {SPIDER: ("train_spider.json", "train_others.json")}


class BenchmarkError(SqlgrpoError, ValueError):
    """The folder cannot be read as a benchmark at all (the message says what was expected)."""


@dataclass
class Problem:
    """Something in the folder that is reported by name: a file (relative to the benchmark
    folder), the 0-based index of the entry in it when there is one, and why."""

    file: str
    reason: str
    index: int | None = None
    db_id: str | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"file": self.file}
        if self.index is not None:
            out["index"] = self.index
        if self.db_id is not None:
            out["db_id"] = self.db_id
        out["reason"] = self.reason
        return out


@dataclass
class BadQuestion(Problem):
    """A question that cannot become a record; `ordinal` is its 1-based place in the folder
    (over the read splits in order), the `line` of the raw record it would have been."""

    ordinal: int = 0


@dataclass
class Question:
    """One question as a record: `fields` in `RECORD_FIELDS` order after the required three."""

    ordinal: int
    fields: dict


@dataclass
class Split:
    name: str
    file: str
    role: str  # TRAIN | EVAL | UNUSED
    questions: int | None = None  # entries in the file (None: missing or unreadable)
    read: int = 0  # entries examined (the first `limit` when one is set)

    def to_dict(self) -> dict:
        return {"name": self.name, "file": self.file, "role": self.role, "questions": self.questions,
                "read": self.read}


@dataclass
class Database:
    """A database file some question uses, with what its tables file says it holds (None when
    there is no tables file for it)."""

    db_id: str
    db_file: str  # absolute
    db_path: str  # relative to the benchmark folder
    tables_file: str | None = None
    tables_index: int | None = None
    tables: dict[str, list[str]] | None = None


@dataclass
class Benchmark:
    root: str
    layout: str
    db_root: str | None
    eval_split: str | None
    splits: list[Split] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    bad_questions: list[BadQuestion] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    databases: dict[str, Database] = field(default_factory=dict)  # by absolute file

    def split_roles(self) -> dict[str, str]:
        return {s.name: s.role for s in self.splits}


def expected_layouts() -> str:
    """What a benchmark folder may look like, for error messages."""
    return "; ".join(layout.describe() for layout in LAYOUTS.values())


def detect_layout(root: str | os.PathLike) -> str | None:
    """The layout a folder is in (`SPIDER` or `BIRD`), or None. The entries only one release has
    decide; a folder holding nothing but a `dev.json` is told by its first question's gold field
    (`query` or `SQL`)."""
    root = Path(root)
    try:
        entries = set(os.listdir(root))
    except OSError:
        return None
    if not any(s.file in entries for layout in LAYOUTS.values() for s in layout.splits):
        return None
    scores = {name: sum(m in entries for m in layout.markers) for name, layout in LAYOUTS.items()}
    best = max(scores.values())
    leaders = [name for name, score in scores.items() if score == best]
    if best > 0 and len(leaders) == 1:
        return leaders[0]
    for name in leaders:
        first = _first_question(root / "dev.json")
        if isinstance(first, dict) and LAYOUTS[name].sql_field in first:
            return name
    return None


def _first_question(path: Path) -> Any:
    document, _ = _read_json(path)
    return document[0] if isinstance(document, list) and document else None


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(document, None), or (None, the reason it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing split file"
    except UnicodeDecodeError as error:
        return None, f"bytes are not UTF-8 (at byte {error.start + 1}); re-save the file as UTF-8"
    except OSError as error:
        return None, f"cannot be read: {error}"
    try:
        return json.loads(text.removeprefix(UTF8_BOM)), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
    except (ValueError, RecursionError) as error:
        return None, f"not valid JSON: {error}"


def load_benchmark(root: str | os.PathLike, *, database_context: Callable[[str], str],
                   db_root: str | os.PathLike | None = None, eval_split: str | None = None,
                   limit: int | None = None) -> Benchmark:
    """Read a benchmark folder into records, bad questions and folder problems.

    `database_context(db_file)` is the `sql_context` of a record whose database is that file;
    `db_root` replaces the databases folder of every split (`db_root/<db_id>/<db_id>.sqlite`);
    `eval_split` names the split that becomes the eval file; `limit` reads only the first
    questions of each split. Raises BenchmarkError when the folder is in no known layout or
    `eval_split` is not one of its splits.
    """
    root_path = Path(root).resolve()
    name = detect_layout(root_path)
    if name is None:
        raise BenchmarkError(f"{root}: a folder must be a benchmark release, and this one is in no known layout. "
                             f"Expected {expected_layouts()}")
    layout = LAYOUTS[name]
    present = [s for s in layout.splits if (root_path / s.file).is_file()]
    eval_name = _eval_split(layout, present, eval_split, root)
    bench = Benchmark(root=str(root_path), layout=name, db_root=str(Path(db_root).resolve()) if db_root else None,
                      eval_split=eval_name)
    _missing_splits(bench, layout, present)
    reader = _Reader(bench, layout, root_path, database_context)
    for split in layout.splits:
        if split not in present:
            continue
        role = EVAL if split.name == eval_name else TRAIN if split.train else UNUSED
        bench.splits.append(reader.read_split(split, role, limit))
    return bench


def _eval_split(layout: Layout, present: list[SplitLayout], asked: str | None, root: Any) -> str | None:
    names = [s.name for s in present]
    if asked is not None:
        if asked not in names:
            raise BenchmarkError(f"{root}: eval split {asked!r} is not in this {layout.name} folder; its splits are "
                                 f"{', '.join(names) or 'none'}")
        return asked
    return next((n for n in EVAL_SPLIT_PREFERENCE if n in names), None)


def _missing_splits(bench: Benchmark, layout: Layout, present: list[SplitLayout]) -> None:
    files = {s.file for s in present}
    pair = SPLIT_PAIRS.get(layout.name, ())
    if any(f in files for f in pair):
        bench.problems += [Problem(f, f"missing split file: the {layout.name} train split comes as "
                                      f"{' and '.join(pair)}") for f in pair if f not in files]
    if bench.eval_split is None:
        bench.problems.append(Problem("dev.json", "missing split file: no dev split, so the eval file is empty"))


class _Reader:
    """Reads the splits of one folder, resolving each database and tables file once."""

    def __init__(self, bench: Benchmark, layout: Layout, root: Path, database_context: Callable[[str], str]):
        self.bench, self.layout, self.root = bench, layout, root
        self.database_context = database_context
        self.ordinal = 0
        self._files: dict[tuple[str, str], str | None] = {}  # (databases folder, db_id) -> file or None
        self._tables: dict[str, dict[str, tuple[int, dict[str, list[str]]]] | None] = {}
        self._unlisted: set[tuple[str, str]] = set()

    def _relative(self, path: Path | str) -> str:
        return os.path.relpath(path, self.root)

    def _databases_folder(self, split: SplitLayout) -> Path | None:
        if self.bench.db_root is not None:
            return Path(self.bench.db_root)
        return next((self.root / d for d in split.databases if (self.root / d).is_dir()), None)

    def _tables_file(self, split: SplitLayout) -> str | None:
        return next((t for t in split.tables if (self.root / t).is_file()), None)

    def read_split(self, split: SplitLayout, role: str, limit: int | None) -> Split:
        document, reason = _read_json(self.root / split.file)
        if reason is None and not isinstance(document, list):
            reason = f"expected an array of questions, got {type(document).__name__}"
        if reason is not None:
            self.bench.problems.append(Problem(split.file, reason))
            return Split(split.name, split.file, role)
        info = Split(split.name, split.file, role, questions=len(document))
        if role == UNUSED:
            return info
        folder = self._databases_folder(split)
        if folder is None:
            self.bench.problems.append(Problem(split.file, "no databases folder: expected "
                                                           f"{' or '.join(d + '/' for d in split.databases)}"))
        tables_file = self._tables_file(split)
        for index, entry in enumerate(document[:limit] if limit is not None else document):
            self.ordinal += 1
            info.read += 1
            self._read_question(split, index, entry, folder, tables_file)
        return info

    def _read_question(self, split: SplitLayout, index: int, entry: Any, folder: Path | None,
                       tables_file: str | None) -> None:
        def bad(reason: str, db_id: str | None = None) -> None:
            self.bench.bad_questions.append(BadQuestion(split.file, reason, index, db_id, ordinal=self.ordinal))

        if not isinstance(entry, dict):
            return bad(f"not an object (got {'null' if entry is None else type(entry).__name__})")
        sql_field = self.layout.sql_field
        problems = [p for p in (_text_problem(entry, k) for k in ("db_id", "question", sql_field)) if p]
        evidence = entry.get("evidence")
        if evidence is not None and not isinstance(evidence, str):
            problems.append(f"field 'evidence' is {type(evidence).__name__}, expected a string")
        if problems:
            return bad("; ".join(problems))
        db_id = entry["db_id"]
        if folder is None:
            return bad(f"no database file for db_id {db_id!r}: the split has no databases folder", db_id)
        db_file = self._database_file(folder, db_id, tables_file)
        if db_file is None:
            expected = self._relative(folder / db_id / f"{db_id}{DATABASE_SUFFIX}")
            return bad(f"no database file for db_id {db_id!r}: {expected} does not exist", db_id)
        self.bench.questions.append(Question(self.ordinal, self._fields(split, index, entry, db_file)))
        return None

    def _fields(self, split: SplitLayout, index: int, entry: dict, db_file: str) -> dict:
        question, gold = entry["question"], entry[self.layout.sql_field]
        fields: dict[str, Any] = {"sql_prompt": question, "sql_context": self.database_context(db_file), "sql": gold,
                                  "id": f"{split.name}-{index}", "benchmark": self.layout.name, "split": split.name,
                                  "source_file": split.file, "source_index": index, "db_id": entry["db_id"],
                                  "db_path": self.bench.databases[db_file].db_path, "db_file": db_file,
                                  "question": question}
        if self.layout.name == BIRD:
            evidence = entry.get("evidence") or ""
            fields["evidence"] = evidence
            if evidence.strip():
                fields["sql_prompt"] = question + EXTERNAL_KNOWLEDGE + evidence
            if isinstance(entry.get("difficulty"), str) and entry["difficulty"].strip():
                fields["sql_complexity"] = entry["difficulty"]
            if entry.get("question_id") is not None:
                fields["question_id"] = entry["question_id"]
        return fields

    def _database_file(self, folder: Path, db_id: str, tables_file: str | None) -> str | None:
        key = (str(folder), db_id)
        if key not in self._files:
            path = folder / db_id / f"{db_id}{DATABASE_SUFFIX}"
            self._files[key] = str(path) if path.is_file() else None
        db_file = self._files[key]
        if db_file is not None and db_file not in self.bench.databases:
            database = Database(db_id, db_file, self._relative(db_file))
            if tables_file is not None:
                listed = self._listed_tables(tables_file)
                if listed is not None and db_id in listed:
                    database.tables_file = tables_file
                    database.tables_index, database.tables = listed[db_id]
                elif listed is not None and (tables_file, db_id) not in self._unlisted:
                    self._unlisted.add((tables_file, db_id))
                    self.bench.problems.append(Problem(tables_file, "no entry for this database", db_id=db_id))
            self.bench.databases[db_file] = database
        return db_file

    def _listed_tables(self, tables_file: str) -> dict[str, tuple[int, dict[str, list[str]]]] | None:
        """db_id -> (index in the file, {table: [columns]}) from a tables file, read once."""
        if tables_file in self._tables:
            return self._tables[tables_file]
        document, reason = _read_json(self.root / tables_file)
        if reason is None and not isinstance(document, list):
            reason = f"expected an array of databases, got {type(document).__name__}"
        listed: dict[str, tuple[int, dict[str, list[str]]]] | None = None
        if reason is not None:
            self.bench.problems.append(Problem(tables_file, f"{reason}; its databases are not checked"))
        else:
            listed = {}
            for index, entry in enumerate(document):
                schema = _tables_entry(entry)
                if isinstance(schema, str):
                    self.bench.problems.append(Problem(tables_file, schema, index))
                else:
                    listed[entry["db_id"]] = (index, schema)
        self._tables[tables_file] = listed
        return listed


def _text_problem(entry: dict, key: str) -> str | None:
    if key not in entry:
        return f"missing field {key!r}"
    value = entry[key]
    if not isinstance(value, str):
        return f"field {key!r} is {'null' if value is None else type(value).__name__}, expected a non-empty string"
    return None if value.strip() else f"empty field {key!r}"


def _tables_entry(entry: Any) -> dict[str, list[str]] | str:
    """{table: [columns]} of one tables-file entry (the `_original` names, as in the file), or
    why it cannot be read."""
    if not isinstance(entry, dict) or not isinstance(entry.get("db_id"), str):
        return "not a database entry (an object with db_id)"
    tables, columns = entry.get("table_names_original"), entry.get("column_names_original")
    if not isinstance(tables, list) or not isinstance(columns, list):
        return "missing table_names_original or column_names_original"
    schema: dict[str, list[str]] = {str(t): [] for t in tables}
    names = list(schema)
    for column in columns:
        if not (isinstance(column, list) and len(column) == 2 and isinstance(column[0], int)):
            return f"column entry {column!r} is not [table index, name]"
        table_index, name = column
        if table_index < 0:
            continue  # the "*" pseudo-column of every release
        if table_index >= len(names):
            return f"column {name!r} names table index {table_index}, past the {len(names)} tables"
        schema[names[table_index]].append(str(name))
    return schema
