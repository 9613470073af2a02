"""Verified near-misses: small AST edits of a gold query that run but give another outcome.

A near-miss is a negative that looks like the gold (same tables, same shape, one edit away,
`sqlgrpo.scoring.edits`) and is proven wrong by the metric's own verdict
(`sqlgrpo.scoring.verdict`): it runs on the example database, with another outcome than the
gold's. They feed the reward audit (`sqlgrpo audit-rewards`) and the contrastive stage
(`sqlgrpo.stages.contrastive`). Each is `{"kind": the edit's name, "sql": the candidate}`.

    >>> ctx = "CREATE TABLE t (x INT, y INT); INSERT INTO t VALUES (1, 5), (2, 5), (3, 7);"
    >>> for m in near_misses("SELECT SUM(x) FROM t WHERE x > 1", ctx, max_per_kind=1):
    ...     print(f"{m['kind']}: {m['sql']}")
    flip_comparison: SELECT SUM(x) FROM t WHERE x <= 1
    drop_where: SELECT SUM(x) FROM t
    swap_aggregate: SELECT AVG(x) FROM t WHERE x > 1
    shift_comparison: SELECT SUM(x) FROM t WHERE x >= 1
    swap_column: SELECT SUM(y) FROM t WHERE x > 1

With the record's test suite (`suite`: variants of its database, `sqlgrpo.scoring.suites`), an
edit that agrees with the gold on the shown database but not on a variant is kept too, as a
near-miss of kind `SUITE_PROVEN`, its edit's name in `edit` (so that reports can still group by
edit): the hardest negatives there are, since only data the question does not show tells them
from the gold. Without the suite such an edit is not a negative at all.

    >>> ctx = "CREATE TABLE t (x INT, c TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'a');"
    >>> suite = ("INSERT INTO t VALUES (5, 'b');",)
    >>> [m for m in near_misses("SELECT SUM(x) FROM t WHERE c = 'a'", ctx, suite=suite) if m["kind"] == SUITE_PROVEN]
    [{'kind': 'suite_proven', 'edit': 'drop_where', 'sql': 'SELECT SUM(x) FROM t'}]

Edits are made on sqlglot trees, never on the text, and the result is written back in the
backend's dialect. Before any edit is trusted, the unedited trees are written back the same way
and must reproduce the gold's outcome; a gold that sqlglot does not round-trip faithfully gives
no near-misses, so a candidate's outcome differs because of its edit and not because of the
rewriting. That second run also drops most golds whose outcome is not reproducible (RANDOM(),
the clock), against which nothing can be verified.

`question_contrast` adds negatives of another sort: the gold of another question on the same
schema, kept when its outcome on this question's database differs (kind `OTHER_QUESTION`), or,
with this question's suite, when it agrees there and not on a variant (kind `SUITE_PROVEN`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlgrpo.common.text import squeeze, statement_key
from sqlgrpo.scoring.edit_trees import Example, Trees
from sqlgrpo.scoring.edits import EDITS
from sqlgrpo.scoring.verdict import SHOWN_DATA_ONLY, Verdict, gold_outcome, verdict
from sqlgrpo.sql import default_executor, split_statements, starts_with_keyword
from sqlgrpo.sql.analysis import SQLGLOT_DIALECT, parse_any

log = logging.getLogger(__name__)

MAX_TRIES_PER_KIND = 12  # candidates executed per edit kind: a gold with dozens of comparisons
# must not cost dozens of executions when the first few already give enough verified negatives
MAX_RENDERS_PER_KIND = 4 * MAX_TRIES_PER_KIND  # candidates written back per kind, duplicates
# included: an edit whose proposals are all duplicates of earlier kinds must still stop soon
MAX_QUESTION_CONTRASTS = 2  # other questions' golds kept as negatives per question

# Kinds of negative besides the edits' own names.
SUITE_PROVEN = "suite_proven"  # the gold's outcome on the shown database, another on a suite variant
OTHER_QUESTION = "other_question"  # another question's gold on the same schema

__all__ = ["EDITS", "Example", "MAX_TRIES_PER_KIND", "OTHER_QUESTION", "SUITE_PROVEN", "edit_candidates", "near_misses",
           "parse_gold", "proven_by_suite", "question_contrast", "render"]

# --------------------------------------------------------------------------------------------
# Verification


def parse_gold(sql: str, backend: str = "sqlite", ran_as: str | None = None) -> Trees | None:
    """The gold's statements as sqlglot trees; None when no dialect parses them.

    Read first in the flavour the executor had to transpile the gold from (`ran_as`, an
    `ExecResult.dialect`), when it did: sqlglot may also read MySQL's `DATE_FORMAT(...)` as
    SQLite, as an unknown function, and the edits would then be written back in MySQL. Then in
    the backend's dialect, then in the flavours datasets mix (`sqlgrpo.sql.analysis.dialect_order`).
    """
    return parse_any(sql, backend, ran_as)


def render(trees: Trees, backend: str = "sqlite") -> str:
    """Statements written back as one text in the backend's dialect."""
    texts = [t.sql(dialect=SQLGLOT_DIALECT.get(backend, backend)) for t in trees]
    return texts[0] if len(texts) == 1 else ";\n".join(texts) + ";"


def near_misses(sql: str, sql_context: str, backend: str = "sqlite", *, max_per_kind: int = 3,
                suite: Sequence[str] = ()) -> list[dict]:
    """Verified near-misses of a gold query: `{"kind": edit name, "sql": candidate}` records (a
    suite-proven one `{"kind": SUITE_PROVEN, "edit": edit name, "sql": candidate}`) in `EDITS`
    order then edit order, each where its edit proposed it; deterministic. A text two edits
    propose is kept once, under the first edit.

    A candidate is kept under its edit's name when its verdict says it runs and its outcome on
    the shown database differs from the gold's (row order counting when the gold orders its
    result; DML by the database state): at most `max_per_kind` per edit. With a `suite`, one
    whose outcome is the gold's on the shown database and another on a variant is kept under
    `SUITE_PROVEN`: at most `max_per_kind` of those in all, a cap of their own. At most
    `MAX_TRIES_PER_KIND` candidates run per edit, one verdict each. A gold that does not run,
    does not parse, or does not survive the sqlglot round trip gives []; one whose round trip
    holds on the shown database only gives no `SUITE_PROVEN` near-miss. Never raises.
    """
    try:
        return _near_misses(sql, sql_context, backend, max_per_kind, tuple(suite))
    except Exception:  # noqa: BLE001 - a row that cannot be worked on gives no near-misses
        log.debug("near_misses failed on %r", sql[:200] if isinstance(sql, str) else sql, exc_info=True)
        return []


def _near_misses(sql: str, sql_context: str, backend: str, max_per_kind: int, suite: tuple[str, ...]) -> list[dict]:
    if not (isinstance(sql, str) and isinstance(sql_context, str)):
        return []
    gold = gold_outcome(sql, sql_context, backend)  # the very outcome the execution reward compares with
    if not gold.ok:
        log.debug("gold does not run (%s): no near-misses", gold.error_kind)
        return []
    trees = parse_gold(sql, backend, gold.dialect)
    if trees is None:
        log.debug("gold does not parse: no near-misses")
        return []
    unedited = render(trees, backend)
    round_trip = verdict(unedited, sql, sql_context, backend, suite=suite)
    if not round_trip.shown_correct:
        log.debug("gold does not survive the sqlglot round trip: no near-misses")
        return []
    # The rewriting itself must hold on every variant, or a variant could tell the rewriting
    # apart from the gold rather than the edit.
    suite_room = max_per_kind if suite and round_trip.correct else 0
    example = Example(sql_context, backend)
    seen = {statement_key(sql), statement_key(unedited)}
    out: list[dict] = []
    for kind in EDITS:
        kept = 0
        for tried, candidate in enumerate(edit_candidates(kind, trees, example, backend, seen)):
            if tried >= MAX_TRIES_PER_KIND or (kept >= max_per_kind and suite_room <= 0):
                break
            found = verdict(candidate, sql, sql_context, backend, suite=suite)  # both facts from one verdict
            if found.ran and not found.shown_correct:  # ran, and the outcome differs on the shown database
                if kept < max_per_kind:
                    out.append({"kind": kind, "sql": candidate})
                    kept += 1
            elif suite_room > 0 and proven_by_suite(found):
                out.append({"kind": SUITE_PROVEN, "edit": kind, "sql": candidate})
                suite_room -= 1
    return out


def proven_by_suite(found: Verdict) -> bool:
    """Whether a verdict proves its answer wrong on a suite variant after agreeing on the shown
    database. A suite check the time budget cut short is no proof: it too is `SHOWN_DATA_ONLY`,
    but not cacheable (a busy machine, not another outcome)."""
    return found.kind == SHOWN_DATA_ONLY and found.cacheable


def edit_candidates(kind: str, trees: Trees, example: Example, backend: str, seen: set[str]) -> Iterator[str]:
    """The candidates of one edit kind, written back in the backend's dialect, unverified, each
    text once (`seen` holds the statement keys already proposed, and is updated). At most
    `MAX_RENDERS_PER_KIND` are written back; never raises."""
    renders = 0
    try:
        for candidate_trees in EDITS[kind](trees, example):
            if renders >= MAX_RENDERS_PER_KIND:
                return
            renders += 1
            try:
                candidate = render(candidate_trees, backend)
            except Exception:  # noqa: BLE001 - an edited tree sqlglot cannot write: skip it
                log.debug("could not render a %s candidate", kind, exc_info=True)
                continue
            key = statement_key(candidate)
            if key not in seen:
                seen.add(key)
                yield candidate
    except Exception:  # noqa: BLE001 - one edit failing on an odd tree must not cost the others
        log.debug("edit %s failed", kind, exc_info=True)


# --------------------------------------------------------------------------------------------
# Another question's gold on the same schema


def _fields(record: Any) -> Mapping[str, Any]:
    """A record's fields: a `sources.RawRecord` (its `.fields`) or a plain mapping (a prepared row)."""
    fields = getattr(record, "fields", record)
    return fields if isinstance(fields, Mapping) else {}


def _schema_key(sql_context: str, backend: str) -> tuple | None:
    """What makes two contexts the same schema: the executor's tables and columns (lower case)
    and the context's CREATE statements (whitespace collapsed). The rows they insert may differ.
    None when the context does not build."""
    db = default_executor(backend).database(sql_context)
    if not db.ok:
        return None
    tables = tuple(sorted((t.lower(), tuple(c.lower() for c in cols)) for t, cols in db.schema.items()))
    creates = tuple(squeeze(s) for s in split_statements(sql_context, backend) if starts_with_keyword(s, "CREATE"))
    return tables, creates


def question_contrast(records: Iterable[Any], backend: str = "sqlite", *, max_per_row: int = MAX_QUESTION_CONTRASTS,
                      suites: Sequence[Sequence[str]] | None = None) -> list[dict]:
    """Other questions' golds as negatives: for rows whose contexts define the same schema, the
    gold of another row is a negative for this row when its verdict against this row's gold says
    it runs on this row's database with another outcome (order counting when this gold orders):
    kind `OTHER_QUESTION`. With `suites` (one per record, in order: the
    `sqlgrpo.scoring.suites.record_suite` of each), one that agrees on this row's database but
    not on a variant of this row's suite is kept as kind `SUITE_PROVEN`. Returns `{"id": row id,
    "kind": OTHER_QUESTION, "sql": the other gold, "source_id": the other row's id}` records (a
    suite-proven one with `"kind": SUITE_PROVEN, "edit": OTHER_QUESTION`), at most `max_per_row`
    of each kind per row, rows in input order and, per row, the other rows in input order
    starting after it (so that one row is not every row's negative). A row without an `id` is
    `row-<n>` (1-based). Never raises on a row; `suites` of another length than `records` is a
    ValueError.
    """
    records = list(records)
    if suites is not None and len(suites) != len(records):
        raise ValueError(f"question_contrast: {len(suites)} suites for {len(records)} records; pass one per record")
    rows = []
    for n, record in enumerate(records, 1):
        fields = _fields(record)
        row_id = fields.get("id")
        suite = tuple(suites[n - 1]) if suites is not None else ()
        rows.append((str(row_id) if row_id is not None else f"row-{n}", fields.get("sql"), fields.get("sql_context"),
                     suite))
    groups: dict[tuple, list[int]] = {}
    for n, (_, gold, context, _) in enumerate(rows):
        if not (isinstance(gold, str) and isinstance(context, str)):
            continue
        try:
            key = _schema_key(context, backend)
        except Exception:  # noqa: BLE001 - a context that cannot be read joins no group
            log.debug("schema key failed for row %d", n + 1, exc_info=True)
            continue
        if key is not None:
            groups.setdefault(key, []).append(n)
    out: list[dict] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        for position, n in enumerate(members):
            try:
                out += _other_questions(rows, n, members[position + 1:] + members[:position], backend, max_per_row)
            except Exception:  # noqa: BLE001 - a row that cannot be worked on gives no negatives
                log.debug("question_contrast failed on row %d", n + 1, exc_info=True)
    out.sort(key=lambda item: item["_row"])
    for item in out:
        del item["_row"]
    log.info("question_contrast: %d negatives for %d rows in %d shared-schema groups",
             len(out), len({item["id"] for item in out}), sum(1 for m in groups.values() if len(m) > 1))
    return out


def _other_questions(rows: list[tuple], n: int, others: list[int], backend: str, max_per_row: int) -> list[dict]:
    row_id, gold, context, suite = rows[n]
    gold_result = gold_outcome(gold, context, backend)
    if not gold_result.ok:
        return []
    found: list[dict] = []
    kept = {OTHER_QUESTION: 0, SUITE_PROVEN: 0}
    seen = {statement_key(gold)}
    for m in others[:MAX_TRIES_PER_KIND]:
        if kept[OTHER_QUESTION] >= max_per_row and (not suite or kept[SUITE_PROVEN] >= max_per_row):
            break
        other_id, other_gold, _, _ = rows[m]
        if statement_key(other_gold) in seen:
            continue  # the same query under another question: no negative
        seen.add(statement_key(other_gold))
        judged = verdict(other_gold, gold, context, backend, suite=suite)
        if judged.ran and not judged.shown_correct:
            negative = {"id": row_id, "kind": OTHER_QUESTION}
        elif suite and proven_by_suite(judged):
            negative = {"id": row_id, "kind": SUITE_PROVEN, "edit": OTHER_QUESTION}
        else:
            continue
        if kept[negative["kind"]] < max_per_row:
            kept[negative["kind"]] += 1
            found.append({**negative, "sql": other_gold, "source_id": other_id, "_row": n})
    return found
