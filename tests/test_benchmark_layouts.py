"""Benchmark folders (Spider, BIRD) read by `prepare`: layouts, records, bad input by name, splits
kept as released. The folders are built here: a few SQLite files (stdlib sqlite3), a dozen
questions, one DML gold. The stage's tests run the golds on the files through the executor.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sqlgrpo.cli import main
from sqlgrpo.data.benchmarks import BIRD, EVAL, SPIDER, TRAIN, UNUSED, detect_layout, load_benchmark
from sqlgrpo.data.sources import SourceError, load_source
from sqlgrpo.sql.database_files import context_file, file_context
from sqlgrpo.stages.prepare import CONTEXT_ERROR, NOT_SQLITE, PrepareError, PrepareOptions, check_databases, clean_benchmark, prepare

SINGERS = [(1, "Joe", "France", 52), (2, "Ana", "Spain", 29), (3, "Tim", "France", 41), (4, "Li", "China", 35)]
CONCERTS = [(1, "Summer", 2014, 1), (2, "Winter", 2015, 2), (3, "Spring", 2015, 1)]
PETS = [(1, "dog", 3), (2, "cat", 5), (3, "dog", 1)]

# Spider dev.json: 8 questions; index 2's gold fails, 3's db_id has no file, 4 is DML, 5's file is not SQLite.
SPIDER_DEV = [
    {"db_id": "concert", "question": "How many singers do we have?", "query": "SELECT count(*) FROM singer"},
    {"db_id": "concert", "question": "Names of singers over 30, youngest first.",
     "query": "SELECT name FROM singer WHERE age > 30 ORDER BY age"},
    {"db_id": "concert", "question": "What are the singers' nicknames?", "query": "SELECT nickname FROM singer"},
    {"db_id": "no_such_db", "question": "How many rows?", "query": "SELECT count(*) FROM t"},
    {"db_id": "concert", "question": "Add the singer Eve from Peru, aged 20.",
     "query": "INSERT INTO singer (singer_id, name, country, age) VALUES (9, 'Eve', 'Peru', 20)"},
    {"db_id": "broken", "question": "Anything?", "query": "SELECT 1"},
    {"db_id": "concert", "question": "Singers older than the average?",
     "query": "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)"},
    {"db_id": "pets", "question": "How many pets of each kind?", "query": "SELECT kind, count(*) FROM pets GROUP BY kind"},
]
SPIDER_TRAIN = [
    {"db_id": "concert", "question": "List all countries.", "query": "SELECT DISTINCT country FROM singer"},
    {"db_id": "concert", "question": "Concerts in 2015?", "query": "SELECT name FROM concert WHERE year = 2015"},
    {"db_id": "concert", "question": "Oldest singer?", "query": "SELECT name FROM singer ORDER BY age DESC LIMIT 1"},
]
SPIDER_OTHERS = [
    {"db_id": "pets", "question": "Average pet age?", "query": "SELECT avg(age) FROM pets"},
    {"db_id": "pets", "question": "Dogs?", "query": "SELECT count(*) FROM pets WHERE kind = 'dog'"},
]
BIRD_DEV = [
    {"question_id": 0, "db_id": "shop", "question": "How many French singers?", "evidence": "French refers to country = 'France'",
     "SQL": "SELECT count(*) FROM singer WHERE country = 'France'", "difficulty": "simple"},
    {"question_id": 1, "db_id": "shop", "question": "Name of the oldest singer?", "evidence": "",
     "SQL": "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "difficulty": "moderate"},
    {"question_id": 2, "db_id": "shop", "question": "Singers in more than one concert?",
     "SQL": "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
            "GROUP BY T1.singer_id HAVING count(*) > 1", "difficulty": "challenging"},
]
BIRD_TRAIN = [{"db_id": "shop", "question": "All concert names?", "evidence": "", "SQL": "SELECT name FROM concert"}]


def _database(path: Path, tables: dict[str, tuple[str, list[tuple]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        for name, (columns, rows) in tables.items():
            conn.execute(f"CREATE TABLE {name} ({columns})")
            if rows:
                conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    conn.close()


CONCERT_DB = {"singer": ("singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER", SINGERS),
              "concert": ("concert_id INTEGER PRIMARY KEY, name TEXT, year INTEGER, singer_id INTEGER", CONCERTS)}
PETS_DB = {"pets": ("pet_id INTEGER PRIMARY KEY, kind TEXT, age INTEGER", PETS)}


def _tables_entry(db_id: str, tables: dict[str, list[str]]) -> dict:
    names = list(tables)
    return {"db_id": db_id, "table_names_original": names,
            "column_names_original": [[-1, "*"]] + [[i, c] for i, t in enumerate(names) for c in tables[t]]}


def _write(path: Path, document) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def spider_dir(tmp_path) -> Path:
    root = tmp_path / "spider"
    _database(root / "database" / "concert" / "concert.sqlite", CONCERT_DB)
    _database(root / "database" / "pets" / "pets.sqlite", PETS_DB)
    (root / "database" / "broken").mkdir(parents=True)
    (root / "database" / "broken" / "broken.sqlite").write_bytes(b"this is not a database\n" * 10)
    _write(root / "dev.json", SPIDER_DEV)
    _write(root / "train_spider.json", SPIDER_TRAIN)
    _write(root / "train_others.json", SPIDER_OTHERS)
    # tables.json disagrees with pets.sqlite: it lists a column the file lacks.
    _write(root / "tables.json", [
        _tables_entry("concert", {"singer": ["singer_id", "Name", "country", "age"],
                                  "concert": ["concert_id", "name", "year", "singer_id"]}),
        _tables_entry("pets", {"pets": ["pet_id", "kind", "age", "owner"]}),
    ])
    return root


@pytest.fixture
def bird_dir(tmp_path) -> Path:
    root = tmp_path / "bird"
    _database(root / "dev_databases" / "shop" / "shop.sqlite", CONCERT_DB)
    _database(root / "train_databases" / "shop" / "shop.sqlite", CONCERT_DB)
    _write(root / "dev.json", BIRD_DEV)
    _write(root / "train.json", BIRD_TRAIN)
    return root


def _load(root: Path, **kw):
    return load_source(str(root), database_context=file_context, **kw)


def _read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _prepare(root: Path, out: Path, **kw) -> dict:
    return prepare(PrepareOptions(input=str(root), output_dir=str(out), **kw), progress=False)


# --- layouts ----------------------------------------------------------------------------------

def test_layouts_are_recognised_by_their_entries(spider_dir, bird_dir, tmp_path):
    # Spider's database/ and train files, BIRD's dev_databases/; a lone dev.json by its gold's field name.
    assert detect_layout(spider_dir) == SPIDER
    assert detect_layout(bird_dir) == BIRD
    lone = tmp_path / "syn"
    lone.mkdir()
    _write(lone / "dev.json", SPIDER_DEV[:2])
    assert detect_layout(lone) == SPIDER
    _write(lone / "dev.json", BIRD_DEV[:1])
    assert detect_layout(lone) == BIRD


def test_a_folder_in_no_layout_is_an_error_listing_what_was_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(SourceError, match=r"train_spider\.json.*dev_databases"):
        _load(tmp_path)
    # The CLI says it in one line and fails.
    assert main(["prepare", "--input", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 1


def test_a_folder_needs_the_database_context_from_the_caller(spider_dir):
    # Without the SQL layer's context maker the records could not name their files: refused, not half-made.
    with pytest.raises(SourceError, match="prepare"):
        load_source(str(spider_dir))


# --- records ----------------------------------------------------------------------------------

def test_spider_records_carry_the_question_verbatim_and_their_database_file(spider_dir):
    loaded = _load(spider_dir)
    first = next(r.fields for r in loaded.records if r.fields["split"] == "dev")
    assert first["sql_prompt"] == first["question"] == SPIDER_DEV[0]["question"]
    assert first["sql"] == SPIDER_DEV[0]["query"]
    assert first["db_path"] == "database/concert/concert.sqlite"
    assert first["db_file"] == str(spider_dir.resolve() / "database" / "concert" / "concert.sqlite")
    assert context_file(first["sql_context"]) == first["db_file"]  # the context is the file reference
    assert (first["benchmark"], first["source_file"], first["source_index"], first["id"]) == \
        (SPIDER, "dev.json", 0, "dev-0")


def test_bird_prompt_adds_the_evidence_only_when_there_is_some(bird_dir):
    records = {r.fields["source_index"]: r.fields for r in _load(bird_dir).records if r.fields["split"] == "dev"}
    assert records[0]["sql_prompt"] == BIRD_DEV[0]["question"] + "\nExternal knowledge: " + BIRD_DEV[0]["evidence"]
    assert records[1]["sql_prompt"] == BIRD_DEV[1]["question"]  # evidence "": the question alone
    assert records[2]["sql_prompt"] == BIRD_DEV[2]["question"] and records[2]["evidence"] == ""  # no evidence field
    assert [records[i]["sql_complexity"] for i in range(3)] == ["simple", "moderate", "challenging"]  # as given
    assert records[0]["db_path"] == "dev_databases/shop/shop.sqlite" and records[0]["question_id"] == 0


def test_bird_train_questions_use_the_train_databases(bird_dir):
    train = [r.fields for r in _load(bird_dir).records if r.fields["split"] == "train"]
    assert [f["db_path"] for f in train] == ["train_databases/shop/shop.sqlite"]
    assert "sql_complexity" not in train[0]  # BIRD train gives no difficulty: none is made up


def test_records_keep_file_order_and_every_split_its_role(spider_dir):
    loaded = _load(spider_dir)
    order = [(r.fields["split"], r.fields["source_index"]) for r in loaded.records]
    assert order == sorted(order, key=lambda o: (["train_spider", "train_others", "dev"].index(o[0]), o[1]))
    assert [r.line for r in loaded.records] == sorted({r.line for r in loaded.records})  # unique, increasing
    assert loaded.benchmark.split_roles() == {"train_spider": TRAIN, "train_others": TRAIN, "dev": EVAL}


# --- bad input, by name -----------------------------------------------------------------------

def test_a_db_id_without_a_file_is_a_bad_line_naming_file_and_index(spider_dir):
    loaded = _load(spider_dir)
    bad = [b.to_dict() for b in loaded.bad_lines]
    assert len(bad) == 1
    assert (bad[0]["file"], bad[0]["index"]) == ("dev.json", 3)
    assert "no_such_db" in bad[0]["reason"] and "database/no_such_db/no_such_db.sqlite" in bad[0]["reason"]
    assert len(loaded.records) == len(SPIDER_DEV) - 1 + len(SPIDER_TRAIN) + len(SPIDER_OTHERS)  # the others kept


def test_a_question_missing_a_field_is_a_bad_line_naming_the_field(spider_dir):
    _write(spider_dir / "dev.json", [SPIDER_DEV[0], {"db_id": "concert", "question": "No gold?"}, "text", SPIDER_DEV[1]])
    loaded = _load(spider_dir)
    bad = {b.index: b.reason for b in loaded.bad_lines if b.file == "dev.json"}
    assert bad == {1: "missing field 'query'", 2: "not an object (got str)"}
    assert [r.fields["source_index"] for r in loaded.records if r.fields["split"] == "dev"] == [0, 3]


def test_a_missing_split_file_is_reported_and_the_rest_read(spider_dir):
    (spider_dir / "train_others.json").unlink()
    bench = _load(spider_dir).benchmark
    assert [p.to_dict() for p in bench.problems if p.file == "train_others.json"][0]["reason"].startswith(
        "missing split file")
    assert {s.name for s in bench.splits} == {"train_spider", "dev"}


def test_an_unreadable_split_file_is_reported_and_the_rest_read(spider_dir):
    (spider_dir / "train_spider.json").write_text("[{broken", encoding="utf-8")
    loaded = _load(spider_dir)
    problems = {p.file: p.reason for p in loaded.benchmark.problems}
    assert problems["train_spider.json"].startswith("not valid JSON")
    assert {r.fields["split"] for r in loaded.records} == {"train_others", "dev"}


def test_a_database_missing_from_tables_json_is_reported(spider_dir):
    # broken.sqlite has no entry in tables.json: said once, by db_id.
    problems = [p.to_dict() for p in _load(spider_dir).benchmark.problems]
    assert problems == [{"file": "tables.json", "db_id": "broken", "reason": "no entry for this database"}]


def test_a_corrupt_database_file_drops_its_questions_by_name(spider_dir):
    # Not SQLite (no header): its one question is dropped with the reason, the check runs once per file.
    loaded = _load(spider_dir)
    unusable, problems = check_databases(loaded.benchmark)
    assert list(unusable) == [str(spider_dir.resolve() / "database" / "broken" / "broken.sqlite")]
    assert {"file": "database/broken/broken.sqlite", "db_id": "broken",
            "reason": "not an SQLite database file"} in problems
    outcomes, _ = clean_benchmark(loaded, workers=1, progress=False)
    assert len(outcomes) == len(loaded.records)
    dropped = [o for o in outcomes if o.reason == NOT_SQLITE]
    by_line = {r.line: r.fields for r in loaded.records}
    assert [(by_line[o.line]["source_file"], by_line[o.line]["source_index"]) for o in dropped] == [("dev.json", 5)]


def test_a_damaged_sqlite_file_is_reported_once_and_its_questions_dropped(spider_dir):
    # The header is right, the pages behind it are not: the engine cannot open it. One problem for the
    # file, and each of its questions dropped with the engine's reason, without being run.
    path = spider_dir / "database" / "pets" / "pets.sqlite"
    path.write_bytes(path.read_bytes()[:16] + b"\x00\x01garbage" * 200)
    loaded = _load(spider_dir)
    unusable, problems = check_databases(loaded.benchmark)
    assert unusable[str(path.resolve())][0] == CONTEXT_ERROR
    assert [p["file"] for p in problems if p["db_id"] == "pets"] == ["database/pets/pets.sqlite"]
    outcomes, _ = clean_benchmark(loaded, workers=1, progress=False)
    pets = {r.line for r in loaded.records if r.fields["db_id"] == "pets"}
    assert len(pets) == 3 and all(o.reason == CONTEXT_ERROR for o in outcomes if o.line in pets)
    assert not any(o.reason == CONTEXT_ERROR for o in outcomes if o.line not in pets)  # the others run


def test_tables_json_that_disagrees_with_the_file_is_reported(spider_dir):
    # tables.json lists pets.owner, which pets.sqlite lacks; "Name" vs "name" is the same column.
    _, problems = check_databases(_load(spider_dir).benchmark)
    mismatches = [p for p in problems if p["file"] == "tables.json"]
    assert mismatches == [{"file": "tables.json", "index": 1, "db_id": "pets",
                           "reason": "lists what database/pets/pets.sqlite lacks: column pets.owner"}]


# --- splits, db root, limits ------------------------------------------------------------------

def test_one_split_over_another_folders_databases_with_db_root(spider_dir, tmp_path):
    # A Spider-Syn-like folder: a dev.json only, databases from the Spider release.
    syn = tmp_path / "spider-syn"
    syn.mkdir()
    _write(syn / "dev.json", SPIDER_DEV[:2])
    loaded = _load(syn, db_root=str(spider_dir / "database"))
    assert [r.fields["db_file"] for r in loaded.records] == \
        [str(spider_dir.resolve() / "database" / "concert" / "concert.sqlite")] * 2
    assert loaded.records[0].fields["db_path"] == "../spider/database/concert/concert.sqlite"  # relative to syn/
    assert loaded.benchmark.split_roles() == {"dev": EVAL}
    assert loaded.benchmark.problems == []  # one split alone is a known layout, not a missing file


def test_eval_split_picks_another_split_and_the_rest_is_counted_not_read(spider_dir):
    _write(spider_dir / "test.json", SPIDER_DEV[:3])
    bench = _load(spider_dir).benchmark
    assert bench.split_roles()["test"] == UNUSED and bench.eval_split == "dev"
    assert next(s for s in bench.splits if s.name == "test").questions == 3
    chosen = _load(spider_dir, eval_split="test").benchmark
    assert chosen.split_roles() == {"train_spider": TRAIN, "train_others": TRAIN, "dev": UNUSED, "test": EVAL}
    with pytest.raises(SourceError, match="no_split.*dev"):
        _load(spider_dir, eval_split="no_split")


def test_limit_reads_the_first_questions_of_each_split(spider_dir):
    loaded = _load(spider_dir, limit=1)
    assert sorted((r.fields["split"], r.fields["source_index"]) for r in loaded.records) == \
        [("dev", 0), ("train_others", 0), ("train_spider", 0)]
    assert {s.name: (s.questions, s.read) for s in loaded.benchmark.splits}["dev"] == (len(SPIDER_DEV), 1)


def test_reading_ten_thousand_questions_opens_each_database_once(tmp_path, monkeypatch):
    # 10k questions over two databases: the path checks are cached per db_id (two is_file calls).
    root = tmp_path / "big"
    _database(root / "database" / "concert" / "concert.sqlite", CONCERT_DB)
    _database(root / "database" / "pets" / "pets.sqlite", PETS_DB)
    _write(root / "train_spider.json", [SPIDER_TRAIN[0], SPIDER_OTHERS[0]] * 5_000)
    calls = []
    real_is_file = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda self: calls.append(self.name) or real_is_file(self))
    bench = load_benchmark(root, database_context=file_context)
    assert len(bench.questions) == 10_000
    assert sorted(n for n in calls if n.endswith(".sqlite")) == ["concert.sqlite", "pets.sqlite"]


# --- the stage ----------------------------------------------------------------------------------

def test_options_for_folders_are_refused_elsewhere(tmp_path, spider_dir):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("", encoding="utf-8")
    with pytest.raises(PrepareError, match="--db-root"):
        _prepare(rows, tmp_path / "out", db_root=str(spider_dir))
    with pytest.raises(PrepareError, match="SQLite only"):
        _prepare(spider_dir, tmp_path / "out", backend="duckdb")
    assert main(["prepare", "--input", str(spider_dir), "--db-root", str(tmp_path / "nowhere"),
                 "--output-dir", str(tmp_path / "out")]) == 1


def test_spider_dev_becomes_the_eval_file_whole_and_in_order(spider_dir, tmp_path):
    report = _prepare(spider_dir, tmp_path / "out")
    evals = _read_jsonl(report["outputs"]["eval"])
    # Index 2 (gold fails), 3 (no file), 5 (not SQLite) are out; the others keep their indexes.
    assert [r["source_index"] for r in evals] == [0, 1, 4, 6, 7]
    train = _read_jsonl(report["outputs"]["train"])
    assert [(r["split"], r["source_index"]) for r in train] == \
        [("train_spider", 0), ("train_spider", 1), ("train_spider", 2), ("train_others", 0), ("train_others", 1)]
    assert report["questions_per_split"] == {"train_spider": 3, "train_others": 2, "dev": 8}
    assert report["eval_split"] == "dev"


def test_a_gold_that_does_not_run_is_reported_with_its_reason_and_split(spider_dir, tmp_path):
    report = _prepare(spider_dir, tmp_path / "out")
    dropped = {(d["file"], d["index"]): d["reason"] for d in report["dropped_rows"]}
    assert dropped == {("dev.json", 2): "gold_missing_column", ("dev.json", 5): NOT_SQLITE}
    dev = next(s for s in report["benchmark"]["splits"] if s["name"] == "dev")
    assert (dev["questions"], dev["kept"], dev["bad_questions"]) == (8, 5, 1)
    assert dev["dropped"] == {"gold_missing_column": 1, NOT_SQLITE: 1}


def test_spider_records_get_the_official_difficulty_and_no_test_suite(spider_dir, tmp_path):
    report = _prepare(spider_dir, tmp_path / "out")
    evals = {r["source_index"]: r for r in _read_jsonl(report["outputs"]["eval"])}
    assert [evals[i].get("sql_complexity") for i in (0, 1, 4, 6, 7)] == ["easy", "medium", None, "hard", "medium"]
    assert evals[4]["statement_kind"] == "insert"  # the DML gold runs (on the file, rolled back) and is kept
    assert all(r["test_suite"] == [] for r in evals.values())  # a file is never copied per variant


def test_duplicate_questions_of_a_split_are_kept(spider_dir, tmp_path):
    _write(spider_dir / "dev.json", [SPIDER_DEV[0], SPIDER_DEV[0]])
    report = _prepare(spider_dir, tmp_path / "out")
    assert [r["source_index"] for r in _read_jsonl(report["outputs"]["eval"])] == [0, 1]


def test_bird_dev_and_train_through_the_cli(bird_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["prepare", "--input", str(bird_dir), "--output-dir", str(out)]) == 0
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["questions_per_split"] == {"train": 1, "dev": 3}
    assert [r["sql_complexity"] for r in _read_jsonl(report["outputs"]["eval"])] == \
        ["simple", "moderate", "challenging"]
    assert len(_read_jsonl(report["outputs"]["train"])) == 1


def test_rerun_reuses_the_outputs_until_a_database_file_changes(bird_dir, tmp_path):
    # The folder's identity covers its question files and database files, not just its name.
    assert not _prepare(bird_dir, tmp_path / "out").get("reused")
    assert _prepare(bird_dir, tmp_path / "out").get("reused") is True
    with sqlite3.connect(bird_dir / "dev_databases" / "shop" / "shop.sqlite") as conn:
        conn.execute("INSERT INTO singer VALUES (5, 'New', 'Peru', 30)")
    conn.close()
    assert not _prepare(bird_dir, tmp_path / "out").get("reused")
