"""The `prepare` stage: load a dataset, keep the rows whose SQL really works, split, report.

    sqlgrpo prepare                                  # the embedded sample into data/
    sqlgrpo prepare --input rows.jsonl --split-by schema --backend duckdb
    sqlgrpo prepare --input spider/                  # a Spider or BIRD release folder
    sqlgrpo prepare --input spider-syn/ --db-root spider/database

A row is kept only when all its fields are present (else it is a bad line, see
`sqlgrpo.data.sources`), its context builds into an example database, its gold executes there (as
written, or after sqlglot transpiles it from PostgreSQL or MySQL), and every table and column the
gold references exists in the context (resolved through sqlglot scopes; a gold sqlglot cannot
parse is kept when the engine ran it, since sqlglot is a fallback, never a gate). Exact
duplicates (normalized question and SQL) are dropped. Every dropped row is listed with its reason.

Each kept record then gets a test suite (`sqlgrpo.stages.suites`): a few fuzzed variants of its
database on which the execution reward and eval also compare answers with the gold;
`--no-test-suite` turns it off.

A benchmark folder (`sqlgrpo.data.benchmarks`: Spider, BIRD) is cleansed the same way on its
database files (SQLite only), each file checked once first (is it SQLite? does its tables file
list only tables and columns it has?), and Spider questions get their official difficulty
(`sqlgrpo.sql.hardness`) as `sql_complexity`. Its splits are kept whole and in order: no
duplicates dropped, no re-split (the dev file becomes the eval file, the train files the train
file). A question whose gold does not run is reported and left out without moving the others:
each record keeps its `source_index`, and the report gives every split's question count
(`questions_per_split`) and its drops.

Outputs in the output folder: `cleaned_train_queries.jsonl`, `cleaned_eval_queries.jsonl` and
`prepare_report.json`. Rerunning with the same input and options reuses them (`force` redoes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlgrpo.common import paths
from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.files import write_json, write_jsonl
from sqlgrpo.common.parallel import available_cores, parallel_map
from sqlgrpo.common.text import statement_key
from sqlgrpo.data.benchmarks import EVAL, SPIDER, TRAIN, UNUSED, Benchmark
from sqlgrpo.data.sources import EMBEDDED_SOURCE, LoadedSource, RawRecord, embedded_dataset_path, load_source
from sqlgrpo.scoring.suites import MAX_VARIANTS
from sqlgrpo.sql import BACKENDS, GOLD_TIMEOUT_S, DML_KINDS, SELECT, SQLExecutor
from sqlgrpo.sql.analysis import missing_references, references_any
from sqlgrpo.sql.database_files import file_context, is_sqlite_file
from sqlgrpo.sql.hardness import spider_hardness
from sqlgrpo.stages.suites import attach_suites

log = logging.getLogger(__name__)

SPLIT_BY = ("row", "schema")
DEFAULT_EVAL_FRACTION = 0.1
DEFAULT_SEED = 42
EXAMPLES_PER_REASON = 3  # drop examples quoted per reason in the report (all drops are listed)
MAX_SUITE_VARIANTS = 32  # each variant costs a run per correct answer in every reward call
REPORT_VERSION = 2  # bump when the cleansing rules change, so old outputs are not reused

# Why a row was dropped. Gold failures are "gold_<error kind of sqlgrpo.sql>".
CONTEXT_ERROR = "context_error"
SCHEMA_MISMATCH = "schema_mismatch"
DUPLICATE = "duplicate"
GOLD_PREFIX = "gold_"
NOT_SQLITE = "database_not_sqlite"  # a benchmark question whose database file is not SQLite
BENCHMARK_BACKEND = "sqlite"  # database files run on SQLite only (DuckDB reads them only with an extension)


@dataclass
class PrepareOptions:
    input: str = "embedded"
    output_dir: str | None = None  # None: sqlgrpo.common.paths.data_dir()
    backend: str = "sqlite"
    eval_fraction: float = DEFAULT_EVAL_FRACTION
    split_by: str = "row"
    limit: int | None = None
    seed: int = DEFAULT_SEED
    workers: int | None = None  # None: every available core
    force: bool = False
    test_suite: bool = True  # build a test suite per record (`sqlgrpo.stages.suites`)
    max_variants: int = MAX_VARIANTS
    db_root: str | None = None  # benchmark folders: where <db_id>/<db_id>.sqlite are (default: the release's)
    eval_split: str | None = None  # benchmark folders: the split that becomes the eval file (default: dev)

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise PrepareError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        folder_only = [flag for flag, value in (("--db-root", self.db_root), ("--eval-split", self.eval_split)) if value]
        if folder_only and not is_benchmark_input(self.input):
            raise PrepareError(f"{' and '.join(folder_only)} apply to a benchmark folder (--input DIR); "
                               f"{self.input!r} is not a folder")
        if self.db_root and not Path(self.db_root).is_dir():
            raise PrepareError(f"--db-root {self.db_root}: no such folder; pass the folder holding "
                               "<db_id>/<db_id>.sqlite")
        if is_benchmark_input(self.input) and self.backend != BENCHMARK_BACKEND:
            raise PrepareError(f"a benchmark folder's database files run on SQLite only; drop --backend {self.backend}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise PrepareError(f"--eval-fraction must be in [0, 1), got {self.eval_fraction}")
        if self.split_by not in SPLIT_BY:
            raise PrepareError(f"--split-by must be one of {', '.join(SPLIT_BY)}, got {self.split_by!r}")
        if not 1 <= self.max_variants <= MAX_SUITE_VARIANTS:
            raise PrepareError(f"--max-variants must be in [1, {MAX_SUITE_VARIANTS}], got {self.max_variants}")
        if self.limit is not None and self.limit < 1:
            raise PrepareError(f"--limit must be a positive number of rows, got {self.limit}")


class PrepareError(SqlgrpoError, ValueError):
    """Bad options, or nothing usable came out of the input (the message says why)."""


def is_benchmark_input(source: str) -> bool:
    """Whether `--input` names a folder (read as a benchmark release)."""
    return source != EMBEDDED_SOURCE and Path(source).is_dir()


@dataclass
class CleanOutcome:
    """What cleansing says of one raw record: a clean record, or the reason it was dropped."""

    line: int
    record: dict | None = None
    reason: str | None = None
    detail: str = ""
    schema_key: str = ""
    references_checked: bool = False


# --------------------------------------------------------------------------------------------
# Cleansing one record

def _schema_key(schema: dict[str, list[str]]) -> str:
    """One schema's identity: its tables and columns, case-folded (data rows do not count)."""
    return ";".join(f"{t.lower()}({','.join(c.lower() for c in cols)})" for t, cols in sorted(schema.items()))


def clean_record(raw: RawRecord, executor: SQLExecutor) -> CleanOutcome:
    """Decide whether one record is kept; never raises on the record's content."""
    fields = raw.fields
    db = executor.database(fields["sql_context"])
    if not db.ok:
        return CleanOutcome(raw.line, reason=CONTEXT_ERROR, detail=db.error)
    result = db.run(fields["sql"], timeout_s=GOLD_TIMEOUT_S)
    if not result.ok:
        return CleanOutcome(raw.line, reason=GOLD_PREFIX + (result.error_kind or "error"), detail=result.error)
    schema = db.schema
    refs = references_any(fields["sql"], executor.backend, schema, ran_as=result.dialect)
    if refs is not None:
        # SQLite and MySQL read an unknown "name" as a string literal; DuckDB/PostgreSQL do not.
        missing = missing_references(refs, schema, quoted_strings=executor.backend == "sqlite")
        if missing:
            return CleanOutcome(raw.line, reason=SCHEMA_MISMATCH,
                                detail="not in the context: " + ", ".join(missing))
    kinds = result.statement_kinds
    statement_kind = next((k for k in kinds if k in DML_KINDS), kinds[-1] if kinds else SELECT)
    record = dict(fields)
    if record.get("benchmark") == SPIDER and "sql_complexity" not in record:
        level = spider_hardness(fields["sql"])  # None for DML or what sqlglot cannot read: no class
        if level is not None:
            record["sql_complexity"] = level
    record.update({
        "dialect": result.dialect,
        "context_dialect": db.dialect,
        "backend": executor.backend,
        "statement_kind": statement_kind,
        "source_line": raw.line,
    })
    return CleanOutcome(raw.line, record=record, schema_key=_schema_key(schema),
                        references_checked=refs is not None)


# Worker processes hold one executor each, so contexts shared by rows are built once per worker.
_WORKER_EXECUTOR: SQLExecutor | None = None


def _init_worker(backend: str) -> None:
    global _WORKER_EXECUTOR
    _WORKER_EXECUTOR = SQLExecutor(backend)


def _clean_one(raw: RawRecord) -> CleanOutcome:
    assert _WORKER_EXECUTOR is not None
    return clean_record(raw, _WORKER_EXECUTOR)


def clean_records(records: list[RawRecord], backend: str = "sqlite", workers: int | None = None,
                  progress: bool = True) -> list[CleanOutcome]:
    """Cleanse records in parallel over `workers` processes (default: every available core),
    with a progress bar; outcomes come back in input order."""
    return parallel_map(_clean_one, records, workers=workers, initializer=_init_worker, initargs=(backend,),
                        desc="cleansing", progress=progress)


# --------------------------------------------------------------------------------------------
# Benchmark folders: database files checked once, splits as the release has them

def _missing_in_file(listed: dict[str, list[str]], schema: dict[str, list[str]]) -> list[str]:
    """Tables and columns a tables file lists that the database file lacks (case-insensitive)."""
    present = {t.lower(): {c.lower() for c in cols} for t, cols in schema.items()}
    missing = []
    for table, columns in listed.items():
        if table.lower() not in present:
            missing.append(f"table {table}")
        else:
            missing += [f"column {table}.{c}" for c in columns if c.lower() not in present[table.lower()]]
    return missing


def check_databases(bench: Benchmark) -> tuple[dict[str, tuple[str, str]], list[dict]]:
    """Each database file of a benchmark folder, once: `{file: (reason, detail)}` for those whose
    questions cannot run (not SQLite, or the engine cannot open it: corrupt), and the problems to
    report (those, and a tables file listing a table or column its database file lacks; the file
    is what golds run on, so those questions are kept)."""
    unusable: dict[str, tuple[str, str]] = {}
    problems: list[dict] = []
    executor = SQLExecutor(BENCHMARK_BACKEND)
    try:
        for db in bench.databases.values():
            if not is_sqlite_file(db.db_file):
                unusable[db.db_file] = (NOT_SQLITE, f"{db.db_path} is not an SQLite database file (no SQLite header)")
                problems.append({"file": db.db_path, "db_id": db.db_id, "reason": "not an SQLite database file"})
                continue
            database = executor.database(file_context(db.db_file))
            if not database.ok:
                unusable[db.db_file] = (CONTEXT_ERROR, database.error)
                problems.append({"file": db.db_path, "db_id": db.db_id, "reason": database.error})
                continue
            if db.tables is None:
                continue
            missing = _missing_in_file(db.tables, database.schema)
            if missing:
                problems.append({"file": db.tables_file, "index": db.tables_index, "db_id": db.db_id,
                                 "reason": f"lists what {db.db_path} lacks: {', '.join(missing)}"})
    finally:
        executor.clear()  # no open database is inherited by the cleansing workers
    for problem in problems:
        log.warning("%s: %s (db_id %s)", problem["file"], problem["reason"], problem["db_id"])
    return unusable, problems


def clean_benchmark(loaded: LoadedSource, workers: int | None = None,
                    progress: bool = True) -> tuple[list[CleanOutcome], list[dict]]:
    """Cleanse a benchmark folder's records on their database files (`check_databases` first);
    outcomes in input order, and the database problems to report."""
    unusable, problems = check_databases(loaded.benchmark)
    runnable = [r for r in loaded.records if r.fields["db_file"] not in unusable]
    cleaned = iter(clean_records(runnable, BENCHMARK_BACKEND, workers, progress=progress))
    outcomes = []
    for r in loaded.records:
        if r.fields["db_file"] in unusable:
            reason, detail = unusable[r.fields["db_file"]]
            outcomes.append(CleanOutcome(r.line, reason=reason, detail=detail))
        else:
            outcomes.append(next(cleaned))
    return outcomes, problems


def benchmark_split(kept: list[CleanOutcome], bench: Benchmark) -> tuple[list[dict], list[dict]]:
    """Train and eval records as the release splits them, each in its files' order."""
    roles = bench.split_roles()
    train = [o.record for o in kept if roles[o.record["split"]] == TRAIN]
    evals = [o.record for o in kept if roles[o.record["split"]] == EVAL]
    return train, evals


def benchmark_report(loaded: LoadedSource, outcomes: list[CleanOutcome], database_problems: list[dict]) -> dict:
    """The report's benchmark part: every split's question count (what a predictions file's
    line i refers to), what was kept and dropped per split and why, the folder's problems."""
    bench = loaded.benchmark
    split_of = {r.line: r.fields["split"] for r in loaded.records}
    kept: Counter = Counter()
    dropped: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        if o.record is not None:
            kept[split_of[o.line]] += 1
        else:
            dropped[split_of[o.line]][o.reason] += 1
    bad = Counter(b.file for b in loaded.bad_lines)
    splits = [{**s.to_dict(), "kept": kept[s.name], "bad_questions": bad[s.file],
               "dropped": dict(sorted(dropped[s.name].items()))} for s in bench.splits]
    for s in bench.splits:
        if s.role == UNUSED:
            log.info("split %s (%s questions) is not read; pass --eval-split %s to evaluate on it",
                     s.name, s.questions, s.name)
    return {
        "questions_per_split": {s.name: s.questions for s in bench.splits if s.questions is not None},
        "eval_split": bench.eval_split,
        "benchmark": {"layout": bench.layout, "root": bench.root, "db_root": bench.db_root,
                      "eval_file": next((s.file for s in bench.splits if s.role == EVAL), None),
                      "splits": splits, "databases": len(bench.databases),
                      "problems": [p.to_dict() for p in bench.problems], "database_problems": database_problems},
    }


# --------------------------------------------------------------------------------------------
# Duplicates, ids, split

def drop_duplicates(outcomes: list[CleanOutcome]) -> None:
    """Mark later exact duplicates (same normalized question and SQL) as dropped, in place."""
    first_line: dict[tuple[str, str], int] = {}
    for out in outcomes:
        if out.record is None:
            continue
        key = (statement_key(out.record["sql_prompt"], casefold=True), statement_key(out.record["sql"], casefold=True))
        if key in first_line:
            out.record, out.reason = None, DUPLICATE
            out.detail = f"same question and SQL as line {first_line[key]}"
        else:
            first_line[key] = out.line


def assign_ids(kept: list[CleanOutcome]) -> None:
    """Give every kept record a stable, unique string `id`: the source's own id when the source
    has unique ones, else `line-<N>`."""
    source_ids = [out.record.get("id") for out in kept]
    usable = all(i is not None and str(i).strip() for i in source_ids) and len({str(i) for i in source_ids}) == len(kept)
    for out in kept:
        if usable:
            out.record["id"] = str(out.record["id"])
        else:
            if "id" in out.record:
                out.record["source_id"] = out.record.pop("id")
            out.record["id"] = f"line-{out.line}"


def _largest_remainder(sizes: dict[str, int], fraction: float) -> dict[str, int]:
    """How many of each stratum go to eval, so the total is round(N * fraction) exactly."""
    target = round(sum(sizes.values()) * fraction)
    exact = {k: n * fraction for k, n in sizes.items()}
    counts = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(sizes, key=lambda k: (-(exact[k] - counts[k]), k))
    for k in by_remainder[:max(target - sum(counts.values()), 0)]:
        counts[k] += 1
    return counts


def split_records(kept: list[CleanOutcome], eval_fraction: float, split_by: str,
                  seed: int) -> tuple[list[dict], list[dict]]:
    """Deterministic train/eval split for a seed.

    row: stratified by `sql_complexity` when the records carry it.
    schema: whole schemas (same tables and columns) go to one side only, so the eval set asks
    about databases the model never trained on.
    """
    rng = random.Random(seed)
    if split_by == "schema":
        groups: dict[str, list[CleanOutcome]] = defaultdict(list)
        for out in kept:
            groups[out.schema_key].append(out)
        keys = sorted(groups)
        rng.shuffle(keys)
        target = round(len(kept) * eval_fraction)
        eval_keys: set[str] = set()
        taken = 0
        for key in keys:
            if taken >= target:
                break
            eval_keys.add(key)
            taken += len(groups[key])
        eval_set = {id(o) for k in eval_keys for o in groups[k]}
    else:
        strata: dict[str, list[CleanOutcome]] = defaultdict(list)
        for out in kept:
            strata[str(out.record.get("sql_complexity", ""))].append(out)
        counts = _largest_remainder({k: len(v) for k, v in strata.items()}, eval_fraction)
        eval_set = set()
        for key in sorted(strata):
            members = sorted(strata[key], key=lambda o: o.line)
            rng.shuffle(members)
            eval_set.update(id(o) for o in members[:counts[key]])
    train = [o.record for o in kept if id(o) not in eval_set]
    evals = [o.record for o in kept if id(o) in eval_set]
    return train, evals


# --------------------------------------------------------------------------------------------
# The stage

def _fingerprint(opts: PrepareOptions, loaded_hint: str) -> str:
    folder_options = {k: v for k, v in (("db_root", opts.db_root), ("eval_split", opts.eval_split)) if v}
    payload = json.dumps({"v": REPORT_VERSION, "input": loaded_hint, "backend": opts.backend,
                          "eval_fraction": opts.eval_fraction, "split_by": opts.split_by,
                          "limit": opts.limit, "seed": opts.seed,
                          "test_suite": opts.test_suite, "max_variants": opts.max_variants, **folder_options},
                          sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _input_identity(source: str, db_root: str | None = None) -> str:
    """What identifies the input for reuse: a file's path, size and mtime; for a benchmark
    folder those of its question files and database files; else its name."""
    path = embedded_dataset_path() if source == EMBEDDED_SOURCE else Path(source)
    if path.is_file():
        st = path.stat()
        return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    if is_benchmark_input(source):
        root = path.resolve()
        files = [*root.glob("*.json"), *root.glob("*/*/*.sqlite")]
        if db_root:
            files += Path(db_root).resolve().glob("*/*.sqlite")
        digest = hashlib.sha256()
        for file in sorted(files):
            st = file.stat()
            digest.update(f"{file}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return f"{root}:{digest.hexdigest()[:16]}"
    return str(source)


def build_report(opts: PrepareOptions, loaded: LoadedSource, outcomes: list[CleanOutcome],
                 train: list[dict], evals: list[dict], clean_s: float, workers: int) -> dict:
    dropped = [o for o in outcomes if o.record is None]
    kept = [o for o in outcomes if o.record is not None]
    reasons = Counter(o.reason for o in dropped)
    examples: dict[str, list[dict]] = defaultdict(list)
    by_line = {r.line: r for r in loaded.records}

    def where(line: int) -> dict:  # a benchmark question is named by its file and index
        f = by_line[line].fields
        return {"file": f["source_file"], "index": f["source_index"]} if loaded.benchmark is not None else {}

    for o in dropped:
        if len(examples[o.reason]) < EXAMPLES_PER_REASON:
            f = by_line[o.line].fields
            examples[o.reason].append({"line": o.line, **where(o.line), "sql_prompt": f.get("sql_prompt"),
                                       "sql": f.get("sql"), "detail": o.detail})
    return {
        "version": REPORT_VERSION,
        "source": loaded.source,
        "source_kind": loaded.kind,
        "layout": loaded.layout,
        "options": asdict(opts),
        "input_rows": loaded.lines_read,
        "bad_lines_count": len(loaded.bad_lines),
        "records": len(loaded.records),
        "kept": len(kept),
        "kept_fraction_of_records": round(len(kept) / len(loaded.records), 4) if loaded.records else 0.0,
        "train": len(train),
        "eval": len(evals),
        "dropped": dict(sorted(reasons.items())),
        "drop_examples": dict(examples),
        "dropped_rows": [{"line": o.line, **where(o.line), "reason": o.reason, "detail": o.detail} for o in dropped],
        "bad_lines": [b.to_dict() for b in loaded.bad_lines],
        "dialects": dict(Counter(o.record["dialect"] for o in kept)),
        "context_dialects": dict(Counter(o.record["context_dialect"] for o in kept)),
        "dialect_by_id": {o.record["id"]: o.record["dialect"] for o in kept},
        "references_unverified": sum(1 for o in kept if not o.references_checked),
        "by_complexity": dict(sorted(Counter(str(o.record.get("sql_complexity", "")) for o in kept).items())),
        "schemas": len({o.schema_key for o in kept}),
        "workers": workers,
        "cleanse_seconds": round(clean_s, 3),
        "rows_per_s": round(len(outcomes) / clean_s, 1) if clean_s > 0 else None,
    }


def prepare(opts: PrepareOptions, *, progress: bool = True) -> dict:
    """Run the stage; returns the report (also written to `prepare_report.json`).

    Raises PrepareError when no row survives, ValueError on bad options, and
    `sqlgrpo.data.sources.SourceError` when the input itself is unusable.
    """
    opts.validate()
    out_dir = Path(opts.output_dir) if opts.output_dir else paths.data_dir()
    report_path = out_dir / paths.PREPARE_REPORT_NAME
    train_path, eval_path = out_dir / paths.TRAIN_FILE_NAME, out_dir / paths.EVAL_FILE_NAME
    fingerprint = _fingerprint(opts, _input_identity(opts.input, opts.db_root))
    if not opts.force and report_path.is_file() and train_path.is_file() and eval_path.is_file():
        try:
            previous = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if previous.get("fingerprint") == fingerprint:
            log.info("prepared data in %s is up to date for this input and options; reusing it "
                     "(pass --force to redo)", out_dir)
            previous["reused"] = True
            return previous

    loaded = load_source(opts.input, limit=opts.limit, database_context=file_context, db_root=opts.db_root,
                         eval_split=opts.eval_split)
    bench = loaded.benchmark
    workers = opts.workers or available_cores()
    start = time.perf_counter()
    if bench is not None:
        outcomes, database_problems = clean_benchmark(loaded, workers, progress=progress)
    else:
        outcomes = clean_records(loaded.records, opts.backend, workers, progress=progress)
    clean_s = time.perf_counter() - start
    if bench is None:
        drop_duplicates(outcomes)  # a benchmark split is kept whole: its duplicates are the benchmark's
    kept = [o for o in outcomes if o.record is not None]
    if not kept:
        reasons = Counter(o.reason for o in outcomes)
        why = ", ".join(f"{n} {r}" for r, n in reasons.most_common()) or "no records"
        raise PrepareError(f"no row of {opts.input} survived cleansing ({len(loaded.bad_lines)} bad lines; "
                           f"dropped: {why}); see the reasons above")
    assign_ids(kept)
    suites = attach_suites([o.record for o in kept], opts.backend, enabled=opts.test_suite, seed=opts.seed,
                           max_variants=opts.max_variants, workers=workers, progress=progress)
    if bench is not None:
        train, evals = benchmark_split(kept, bench)
    else:
        train, evals = split_records(kept, opts.eval_fraction, opts.split_by, opts.seed)
    report = build_report(opts, loaded, outcomes, train, evals, clean_s, workers)
    if bench is not None:
        report.update(benchmark_report(loaded, outcomes, database_problems))
    report["test_suites"] = suites
    report["fingerprint"] = fingerprint
    report["outputs"] = {"train": str(train_path), "eval": str(eval_path), "report": str(report_path)}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(train_path, train)
    write_jsonl(eval_path, evals)
    write_json(report_path, report)
    log.info("prepared %d of %d records (%d train, %d eval) into %s at %.0f rows/s",
             len(kept), len(loaded.records), len(train), len(evals), out_dir, report["rows_per_s"] or 0)
    return report
