"""The `prepare` stage: load a dataset, keep the rows whose SQL really works, split, report.

    sqlgrpo prepare                                  # the embedded sample into data/
    sqlgrpo prepare --input rows.jsonl --split-by schema --backend duckdb

A row is kept only when all its fields are present (else it is a bad line, see
`sqlgrpo.data.sources`), its context builds into an example database, its gold executes there (as
written, or after sqlglot transpiles it from PostgreSQL or MySQL), and every table and column the
gold references exists in the context (resolved through sqlglot scopes; a gold sqlglot cannot
parse is kept when the engine ran it, since sqlglot is a fallback, never a gate). Exact
duplicates (normalized question and SQL) are dropped. Every dropped row is listed with its reason.

Each kept record then gets a test suite (`sqlgrpo.stages.suites`): a few fuzzed variants of its
database on which the execution reward and eval also compare answers with the gold;
`--no-test-suite` turns it off.

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
from sqlgrpo.data.sources import LoadedSource, RawRecord, load_source
from sqlgrpo.scoring.suites import MAX_VARIANTS
from sqlgrpo.sql import BACKENDS, DML_KINDS, SELECT, SQLExecutor
from sqlgrpo.sql.analysis import missing_references, references_any
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

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise PrepareError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
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
    result = db.run(fields["sql"])
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
    payload = json.dumps({"v": REPORT_VERSION, "input": loaded_hint, "backend": opts.backend,
                          "eval_fraction": opts.eval_fraction, "split_by": opts.split_by,
                          "limit": opts.limit, "seed": opts.seed,
                          "test_suite": opts.test_suite, "max_variants": opts.max_variants}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _input_identity(source: str) -> str:
    """What identifies the input for reuse: a file's path, size and mtime, else its name."""
    from sqlgrpo.data.sources import EMBEDDED_SOURCE, embedded_dataset_path

    path = embedded_dataset_path() if source == EMBEDDED_SOURCE else Path(source)
    if path.is_file():
        st = path.stat()
        return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return str(source)


def build_report(opts: PrepareOptions, loaded: LoadedSource, outcomes: list[CleanOutcome],
                 train: list[dict], evals: list[dict], clean_s: float, workers: int) -> dict:
    dropped = [o for o in outcomes if o.record is None]
    kept = [o for o in outcomes if o.record is not None]
    reasons = Counter(o.reason for o in dropped)
    examples: dict[str, list[dict]] = defaultdict(list)
    by_line = {r.line: r for r in loaded.records}
    for o in dropped:
        if len(examples[o.reason]) < EXAMPLES_PER_REASON:
            f = by_line[o.line].fields
            examples[o.reason].append({"line": o.line, "sql_prompt": f.get("sql_prompt"), "sql": f.get("sql"),
                                       "detail": o.detail})
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
        "dropped_rows": [{"line": o.line, "reason": o.reason, "detail": o.detail} for o in dropped],
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
    fingerprint = _fingerprint(opts, _input_identity(opts.input))
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

    loaded = load_source(opts.input, limit=opts.limit)
    workers = opts.workers or available_cores()
    start = time.perf_counter()
    outcomes = clean_records(loaded.records, opts.backend, workers, progress=progress)
    clean_s = time.perf_counter() - start
    drop_duplicates(outcomes)
    kept = [o for o in outcomes if o.record is not None]
    if not kept:
        reasons = Counter(o.reason for o in outcomes)
        why = ", ".join(f"{n} {r}" for r, n in reasons.most_common()) or "no records"
        raise PrepareError(f"no row of {opts.input} survived cleansing ({len(loaded.bad_lines)} bad lines; "
                           f"dropped: {why}); see the reasons above")
    assign_ids(kept)
    suites = attach_suites([o.record for o in kept], opts.backend, enabled=opts.test_suite, seed=opts.seed,
                           max_variants=opts.max_variants, workers=workers, progress=progress)
    train, evals = split_records(kept, opts.eval_fraction, opts.split_by, opts.seed)
    report = build_report(opts, loaded, outcomes, train, evals, clean_s, workers)
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
