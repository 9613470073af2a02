"""Prepare's second pass: a test suite for every kept record (`sqlgrpo.scoring.suites`).

    sqlgrpo prepare                    # suites on by default
    sqlgrpo prepare --no-test-suite    # one database per record, as the context builds it

Each distinct (gold, context) is worked on once, over every core, with a progress bar; the suite
goes into the record (`test_suite`: the variants' deltas) so that the reward, eval, the audit and
the contrastive stage find it from the record alone. Records whose database is a file (the
`db_path` field of benchmark layouts) get none: a file is never copied per variant.
"""

from __future__ import annotations

import logging
import time
from collections import Counter


from sqlgrpo.common.parallel import parallel_map
from sqlgrpo.scoring.suites import (MAX_VARIANTS, NO_SUITE_DISABLED, NO_SUITE_FILE_DATABASE, TEST_SUITE_FIELD,
                                    SuiteBuild, build_suite)

log = logging.getLogger(__name__)

DATABASE_FILE_FIELD = "db_path"  # records of benchmark layouts name their database file here
SUITE_EXAMPLES = 3  # records quoted per reason for no suite


def _build(task: tuple[str, str, str, int, int]) -> SuiteBuild:
    gold, context, backend, seed, max_variants = task
    return build_suite(gold, context, backend, seed=seed, max_variants=max_variants)


def attach_suites(records: list[dict], backend: str = "sqlite", *, enabled: bool = True, seed: int = 0,
                  max_variants: int = MAX_VARIANTS, workers: int | None = None, progress: bool = True) -> dict:
    """Put a `test_suite` into every record (in place; [] where none was built) and return the
    report's `test_suites` section: how many records got how many variants, why some got none,
    which kinds of variant were kept, and how many of the gold's agreeing neighbours they tell
    apart."""
    start = time.perf_counter()
    reasons: Counter = Counter()
    examples: dict[str, list[dict]] = {}
    builds: dict[tuple, SuiteBuild] = {}
    if enabled:
        tasks = list(dict.fromkeys((r["sql"], r["sql_context"], backend, seed, max_variants)
                                   for r in records if not r.get(DATABASE_FILE_FIELD)))
        builds = dict(zip(tasks, parallel_map(_build, tasks, workers=workers, desc="test suites", progress=progress)))
    sizes: Counter = Counter()
    kinds: Counter = Counter()
    dropped: Counter = Counter()
    agreeing = told_apart = 0
    for record in records:
        build = builds.get((record["sql"], record["sql_context"], backend, seed, max_variants))
        if not enabled:
            reason = NO_SUITE_DISABLED
        elif record.get(DATABASE_FILE_FIELD):
            reason = NO_SUITE_FILE_DATABASE
        else:
            reason = build.reason.split(":")[0] if build and build.reason else ""
        record[TEST_SUITE_FIELD] = list(build.variants) if build and not reason else []
        sizes[len(record[TEST_SUITE_FIELD])] += 1
        if reason:
            reasons[reason] += 1
            if len(examples.setdefault(reason, [])) < SUITE_EXAMPLES:
                examples[reason].append({"id": record.get("id"), "sql": record["sql"],
                                         "detail": build.reason if build else reason})
        if build:
            kinds.update(build.kinds)
            dropped.update(build.dropped)
            agreeing += build.agreeing
            told_apart += build.told_apart
    seconds = time.perf_counter() - start
    section = {
        "enabled": enabled,
        "max_variants": max_variants,
        "records_with_suite": sum(n for size, n in sizes.items() if size),
        "records_without_suite": sizes.get(0, 0),
        "variants_per_record": {str(k): v for k, v in sorted(sizes.items())},
        "no_suite": dict(reasons.most_common()),
        "no_suite_examples": examples,
        "variant_kinds": dict(kinds.most_common()),
        "candidates_dropped": dict(dropped.most_common()),
        "agreeing_neighbours": agreeing,
        "agreeing_neighbours_told_apart": told_apart,
        "seconds": round(seconds, 3),
        "rows_per_s": round(len(builds) / seconds, 1) if builds and seconds > 0 else None,
    }
    if enabled:
        log.info("test suites: %d of %d records got one (%s variants each), %d of %d agreeing neighbours told "
                 "apart, %.1f s", section["records_with_suite"], len(records),
                 ", ".join(f"{k}: {v}" for k, v in section["variants_per_record"].items()), told_apart, agreeing,
                 seconds)
    return section



