"""Test suites: the few fuzzed variants of a record's database that tell wrong queries apart.

`build_suite` takes the candidates of `sqlgrpo.sql.fuzz`, drops those the gold fails on or
whose gold outcome depends on physical row order, and distils the rest (Zhong, Yu and Klein,
2020): greedily, the variant that tells apart the most neighbour queries of the gold (its
single edits, `sqlgrpo.scoring.edits`) that agree with it on the shown database and on the
variants already kept; then up to `GENERIC_SLOTS` generic variants that the neighbours do not
need but other wrong queries may (an empty and a non-empty result, then one of each kind in
`GENERIC_KINDS` not yet kept, preferring a variant that gives the gold a new outcome), at most
`MAX_VARIANTS` in all. The suite is stored in the
record (`TEST_SUITE_FIELD`: the variants' deltas, most telling first) and read back by
`record_suite`; the verdict runs an answer on it (`sqlgrpo.scoring.verdict`).

    >>> ctx = "CREATE TABLE t (id INT, x INT); INSERT INTO t VALUES (1, 5), (2, 7);"
    >>> built = build_suite("SELECT id FROM t WHERE x > 6", ctx)
    >>> built.reason, 1 <= len(built.variants) <= MAX_VARIANTS
    ('', True)
    >>> from sqlgrpo.scoring.verdict import verdict
    >>> verdict("SELECT id FROM t WHERE id = 2", "SELECT id FROM t WHERE x > 6", ctx, suite=built.variants).kind
    'shown_data_only'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlgrpo.common.text import statement_key
from sqlgrpo.scoring.edit_trees import Example
from sqlgrpo.scoring.edits import EDITS
from sqlgrpo.scoring.matching import outcome_key
from sqlgrpo.scoring.near_misses import MAX_TRIES_PER_KIND, edit_candidates, parse_gold
from sqlgrpo.scoring.verdict import same_outcome
from sqlgrpo.sql import ExecResult, SQLExecutor, context_file, split_statements
from sqlgrpo.sql.fuzz import MAX_BUILD_RETRIES, Candidate, candidates, variant_context

log = logging.getLogger(__name__)

TEST_SUITE_FIELD = "test_suite"  # the record's column: a list of deltas (`sqlgrpo.sql.fuzz`)
MAX_VARIANTS = 8  # databases besides the shown one: each costs a run per correct answer
GENERIC_SLOTS = 3  # of which kept whatever the neighbours say: wrong queries the edits do not make
NEIGHBOURS_PER_KIND = MAX_TRIES_PER_KIND  # single-edit neighbours of the gold tried per edit kind
SUITE_CACHE_SIZE = 64  # candidate databases kept while one record's suite is built
DISTIL_BACKEND = "sqlite"  # where candidates are distilled: the cheapest engine to build databases on
RECHECK_ROUNDS = 3  # distillations again without the variants that fail on the record's own engine

# Why a record got no suite (prepare_report.json counts them).
NO_SUITE_DISABLED = "disabled"
NO_SUITE_FILE_DATABASE = "database_file"  # the record's database is a file (benchmarks)
NO_SUITE_GOLD_FAILS = "gold_fails"
NO_SUITE_NOT_FUZZABLE = "not_fuzzable"  # no table the fuzzer can read (too large, unreadable)
NO_SUITE_ORDER_DEPENDENT = "gold_order_dependent"  # every variant's gold outcome hangs on row order
NO_SUITE_GOLD_FAILS_ON_VARIANTS = "gold_fails_on_variants"
NO_SUITE_UNINFORMATIVE = "uninformative"  # no variant gives the gold another outcome or tells anything apart
# The generic variants, most useful first: NULLs (COUNT(col) vs COUNT(*), IS NULL), duplicated
# rows (DISTINCT), more rows than a LIMIT, rows just beside the literals (boundaries, an empty
# filter), shuffled columns (a correlation of the shown rows), then the rest.
GENERIC_KINDS = ("nulls", "duplicates", "beyond_limit", "beside_literals", "decorrelated", "near_literals",
                 "combinations", "groups", "emptied", "random_rows", "satisfying")


@dataclass
class SuiteBuild:
    """The suite of one record and how it was found."""

    variants: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    reason: str = ""  # why there are no variants ("" when there are)
    candidates: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # candidates dropped, by reason
    neighbours: int = 0  # single-edit neighbours that run
    agreeing: int = 0  # of which agree with the gold on the shown database
    told_apart: int = 0  # of those, how many the suite tells apart
    chosen: list[Candidate] = field(default_factory=list, repr=False)  # the kept candidates (rows dropped)
    pool: list[Any] = field(default_factory=list, repr=False)  # every valid variant, for a re-distillation
    gold_result: ExecResult | None = field(default=None, repr=False)


@dataclass
class _Variant:
    candidate: Candidate
    delta: str
    gold: ExecResult
    kills: set[int]


def _executor(backend: str) -> SQLExecutor:
    # Private: the candidates of one record must not crowd the process-wide cache of databases.
    return SQLExecutor(backend, cache_size=SUITE_CACHE_SIZE)


def build_suite(gold: str, context: str, backend: str = "sqlite", *, max_variants: int = MAX_VARIANTS,
                seed: int = 0) -> SuiteBuild:
    """The test suite of one record (see the module docstring). Never raises.

    On another backend than SQLite the candidates are distilled on SQLite when the gold gives
    the same outcome there (a DuckDB database costs ten times more to build), and the variants
    kept are then checked again on the record's backend (they build, the gold runs, its outcome
    does not depend on row order); a gold whose outcome differs between the engines is
    distilled on its own backend.
    """
    if context_file(context) is not None:
        return SuiteBuild(reason=NO_SUITE_FILE_DATABASE)  # a file is never copied per variant
    executors = {backend: _executor(backend)}
    try:
        target = executors[backend].database(context).run(gold)
        if not target.ok:
            return SuiteBuild(reason=NO_SUITE_GOLD_FAILS)
        work = backend
        if backend != DISTIL_BACKEND:
            executors[DISTIL_BACKEND] = _executor(DISTIL_BACKEND)
            if same_outcome(target, executors[DISTIL_BACKEND].run(gold, context), gold, backend):
                work = DISTIL_BACKEND
        out = _build_suite(gold, context, work, max_variants, seed, executors[work])
        if work != backend and out.variants:
            _recheck(out, gold, context, backend, executors[backend], max_variants)
        return out
    except Exception as e:  # noqa: BLE001 - a record that cannot be fuzzed gets no suite, not a crash
        log.debug("build_suite failed on %r", gold[:200] if isinstance(gold, str) else gold, exc_info=True)
        return SuiteBuild(reason=f"{NO_SUITE_NOT_FUZZABLE}: internal error {e!r}")
    finally:
        for executor in executors.values():
            executor.clear()


def _recheck(out: SuiteBuild, gold: str, context: str, backend: str, executor: SQLExecutor,
             max_variants: int) -> None:
    """Keep the variants (distilled on another engine) that hold on the record's backend; one
    that does not is replaced by distilling again without it, a few rounds at most."""
    pool, gold_result = list(out.pool), out.gold_result
    checked: dict[int, _Variant | None] = {}  # by id of the distilled variant
    chosen = [v for v in pool if v.candidate in out.chosen]
    for _ in range(RECHECK_ROUNDS):
        for v in chosen:
            if id(v) not in checked:
                variant, why = _check_candidate(v.candidate, gold, context, backend, executor)
                checked[id(v)] = variant
                if variant is None:
                    out.dropped[f"{backend}_{why}"] = out.dropped.get(f"{backend}_{why}", 0) + 1
        failed = {id(v) for v in chosen if checked[id(v)] is None}
        if not failed:
            break
        pool = [v for v in pool if id(v) not in failed]
        chosen = _distil(pool, gold_result, max_variants) if pool and gold_result is not None else []
    kept = [(checked[id(v)], v.candidate.kind) for v in chosen if checked.get(id(v)) is not None]
    out.variants = tuple(variant.delta for variant, _ in kept)
    out.kinds = tuple(kind for _, kind in kept)
    if not kept:
        out.reason = NO_SUITE_GOLD_FAILS_ON_VARIANTS


def _build_suite(gold: str, context: str, backend: str, max_variants: int, seed: int,
                 executor: SQLExecutor) -> SuiteBuild:
    db = executor.database(context)
    gold_result = db.run(gold)
    if not gold_result.ok:
        return SuiteBuild(reason=NO_SUITE_GOLD_FAILS)
    found = candidates(context, gold, backend, seed=seed, db=db)
    if not found:
        return SuiteBuild(reason=NO_SUITE_NOT_FUZZABLE)
    out = SuiteBuild(candidates=len(found))
    agreeing = _agreeing_neighbours(gold, gold_result, context, backend, executor, out)
    variants: list[_Variant] = []
    told: set[int] = set()
    for candidate in found:
        variant, why = _check_candidate(candidate, gold, context, backend, executor)
        if variant is None:
            out.dropped[why] = out.dropped.get(why, 0) + 1
            continue
        # A neighbour already told apart by an earlier candidate is not run again: the greedy
        # choice below then works on first tellers, which still covers every neighbour that any
        # candidate tells apart, at a fraction of the runs (the candidates come strongest first).
        for n, neighbour in enumerate(agreeing):
            if n in told:
                continue
            ran = executor.run(neighbour, variant_context(context, variant.delta))
            if not (ran.ok and same_outcome(variant.gold, ran, gold, backend)):
                variant.kills.add(n)
        told |= variant.kills
        variants.append(variant)
    if not variants:
        order = out.dropped.get(NO_SUITE_ORDER_DEPENDENT, 0)
        out.reason = NO_SUITE_ORDER_DEPENDENT if order >= out.dropped.get(NO_SUITE_GOLD_FAILS_ON_VARIANTS, 0) \
            else NO_SUITE_GOLD_FAILS_ON_VARIANTS
        return out
    chosen = _distil(variants, gold_result, max_variants)
    if not chosen:
        out.reason = NO_SUITE_UNINFORMATIVE
        return out
    out.chosen = [v.candidate for v in chosen]
    out.pool, out.gold_result = variants, gold_result
    out.variants = tuple(v.delta for v in chosen)
    out.kinds = tuple(v.candidate.kind for v in chosen)
    out.told_apart = len(set().union(*(v.kills for v in chosen)))
    return out


def _agreeing_neighbours(gold: str, gold_result: ExecResult, context: str, backend: str, executor: SQLExecutor,
                         out: SuiteBuild) -> list[str]:
    """The gold's single-edit neighbours that run and give its outcome on the shown database:
    the wrong answers a coincidence would reward."""
    trees = parse_gold(gold, backend, gold_result.dialect)
    if trees is None:
        return []
    example = Example(context, backend)
    seen = {statement_key(gold)}
    agreeing = []
    for kind in EDITS:
        for n, neighbour in enumerate(edit_candidates(kind, trees, example, backend, seen)):
            if n >= NEIGHBOURS_PER_KIND:
                break
            ran = executor.run(neighbour, context)
            if ran.ok:
                out.neighbours += 1
                if same_outcome(gold_result, ran, gold, backend):
                    agreeing.append(neighbour)
    out.agreeing = len(agreeing)
    return agreeing


def _check_candidate(candidate: Candidate, gold: str, context: str, backend: str,
                     executor: SQLExecutor) -> tuple[_Variant | None, str]:
    """Build a candidate (dropping rows the engine refuses), run the gold on it and on its
    reordered twin: a variant, or None and why it was dropped."""
    for _ in range(MAX_BUILD_RETRIES + 2):
        db = executor.database(variant_context(context, candidate.delta))
        if db.ok:
            break
        statements = candidate.statements()
        n_context = db.failed_statement and _context_statements(context, backend)
        number = db.failed_statement - n_context - 1 if db.failed_statement else -1
        if not 0 <= number < len(statements):
            return None, NO_SUITE_GOLD_FAILS_ON_VARIANTS
        positions = statements[number][1]
        if len(positions) == 1:
            candidate = candidate.without(positions[0])
        elif not candidate.per_row:
            candidate = candidate.row_by_row()  # which row of that INSERT: build it row by row
        else:
            return None, NO_SUITE_GOLD_FAILS_ON_VARIANTS
    else:
        return None, NO_SUITE_GOLD_FAILS_ON_VARIANTS
    result = db.run(gold)
    if not result.ok:
        return None, NO_SUITE_GOLD_FAILS_ON_VARIANTS
    twin = executor.run(gold, variant_context(context, candidate.reordered().delta))
    if not (twin.ok and same_outcome(result, twin, gold, backend)):
        return None, NO_SUITE_ORDER_DEPENDENT
    return _Variant(candidate, candidate.delta, result, set()), ""


def _context_statements(context: str, backend: str) -> int:
    return len(split_statements(context, backend))


def _distil(variants: list[_Variant], gold_result: ExecResult, max_variants: int) -> list[_Variant]:
    """Greedy cover of the told-apart neighbours, then up to `GENERIC_SLOTS` generic variants."""
    chosen: list[_Variant] = []
    told: set[int] = set()
    while len(chosen) < max(max_variants - GENERIC_SLOTS, 1):
        best = max(variants, key=lambda v: len(v.kills - told))
        if not best.kills - told:
            break
        chosen.append(best)
        told |= best.kills
    limit = min(max_variants, len(chosen) + GENERIC_SLOTS)
    shown = outcome_key(gold_result)
    outcomes = {shown} | {outcome_key(v.gold) for v in chosen}

    def empty(result: ExecResult) -> bool:
        return not result.rows and not result.state

    def pick(candidates: list[_Variant]) -> None:
        # A variant that gives the gold a new outcome first, else one that at least changes it.
        found = next((v for v in candidates if outcome_key(v.gold) not in outcomes), None) \
            or next((v for v in candidates if outcome_key(v.gold) != shown), None)
        if found is not None and len(chosen) < limit:
            chosen.append(found)
            outcomes.add(outcome_key(found.gold))

    rest = [v for v in variants if v not in chosen]
    for wants_empty in (True, False):  # an empty and a non-empty result, if the gold has either
        if not any(empty(v.gold) == wants_empty for v in chosen) and empty(gold_result) != wants_empty:
            pick([v for v in rest if empty(v.gold) == wants_empty and v not in chosen])
    for kind in GENERIC_KINDS:
        if not any(v.candidate.kind == kind for v in chosen):
            pick([v for v in rest if v.candidate.kind == kind and v not in chosen])
    return chosen


def record_suite(record: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The suite stored in a record (its `TEST_SUITE_FIELD`), () when it has none."""
    value = record.get(TEST_SUITE_FIELD) if isinstance(record, Mapping) else None
    return suite_of(value)


def suite_of(value: Any) -> tuple[str, ...]:
    """A stored suite as the verdict takes it (a tuple of deltas); () for anything else."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v)
