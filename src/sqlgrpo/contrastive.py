"""Verified near-misses: small AST edits of a gold query that run but give another outcome.

A near-miss is a negative that looks like the gold (same tables, same shape, one edit away) and
is proven wrong by execution: it runs on the example database, and `outcomes_match` (the metric
and the reward's own comparison) says its outcome differs from the gold's. They feed the reward
audit (`sqlgrpo audit-rewards`), and later the contrastive stage.

    >>> ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2), (3);"
    >>> [m["kind"] + ": " + m["sql"] for m in near_misses("SELECT SUM(x) FROM t WHERE x > 1", ctx)]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['flip_comparison: SELECT SUM(x) FROM t WHERE x <= 1', 'drop_where: SELECT SUM(x) FROM t',
     'swap_aggregate: SELECT AVG(x) FROM t WHERE x > 1', 'swap_aggregate: SELECT COUNT(x) FROM t WHERE x > 1',
     'swap_aggregate: SELECT MAX(x) FROM t WHERE x > 1']

Edits are plain functions in the `EDITS` registry, keyed by their own name (the `kind` of the
near-misses they make). Each takes the gold's parsed statements and yields edited copies, one
edit at a time, in a fixed order; `near_misses` keeps those that are verified. Adding an edit
kind is adding a function and a registry entry.

Edits are made on sqlglot trees, never on the text, and the result is written back in the
backend's dialect. Before any edit is trusted, the unedited trees are written back the same way
and must reproduce the gold's outcome; a gold that sqlglot does not round-trip faithfully gives
no near-misses, so a candidate's outcome differs because of its edit and not because of the
rewriting. That second run also drops most golds whose outcome is not reproducible (RANDOM(),
the clock), against which nothing can be verified.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator

from sqlglot import exp

from .analysis import SQLGLOT_DIALECT, parse_statements
from .matching import outcomes_match
from .rewards import gold_is_ordered, gold_outcome
from .sql import default_executor

log = logging.getLogger(__name__)

MAX_TRIES_PER_KIND = 12  # candidates executed per edit kind: a gold with dozens of comparisons
# must not cost dozens of executions when the first few already give enough verified negatives
PARSE_FALLBACKS = ("postgres", "mysql")  # the flavours `sqlgrpo.sql` transpiles gold text from

Trees = list[exp.Expression]
Edit = Callable[[Trees], Iterator[Trees]]


# --------------------------------------------------------------------------------------------
# Walking and replacing nodes on copies


def _nodes(tree: exp.Expression) -> list[exp.Expression]:
    """Every node of a tree in depth-first (textual) order; a copy of the tree lists its own
    nodes in the same order, so an index names the same node in both."""
    return list(tree.walk(bfs=False))


def _each_node_rewrite(trees: Trees, is_target: Callable[[exp.Expression], bool],
                       rewrites: Callable[[exp.Expression], list[Callable[[exp.Expression], exp.Expression]]]
                       ) -> Iterator[Trees]:
    """For every target node (statement by statement, depth-first) and every rewrite of it, a
    fresh copy of all statements with that one node replaced. The originals are never touched."""
    for s, tree in enumerate(trees):
        for i, node in enumerate(_nodes(tree)):
            if not is_target(node):
                continue
            for rewrite in rewrites(node):
                copies = [t.copy() for t in trees]
                target = _nodes(copies[s])[i]
                replacement = rewrite(target)
                if target is copies[s]:
                    copies[s] = replacement
                else:
                    target.replace(replacement)
                yield copies


# --------------------------------------------------------------------------------------------
# Edits

_FLIPPED_COMPARISON: dict[type, type] = {
    exp.EQ: exp.NEQ, exp.NEQ: exp.EQ,
    exp.LT: exp.GTE, exp.GTE: exp.LT,
    exp.GT: exp.LTE, exp.LTE: exp.GT,
}


def _is_comparison(node: exp.Expression) -> bool:
    if type(node) not in _FLIPPED_COMPARISON:
        return False
    # `SET x = 1` of UPDATE / ON CONFLICT DO UPDATE is an assignment that sqlglot builds as EQ.
    return not (isinstance(node.parent, (exp.Update, exp.OnConflict)) and node.arg_key == "expressions")


def flip_comparison(trees: Trees) -> Iterator[Trees]:
    """One comparison negated: = and !=, < and >=, > and <= swapped, one node at a time."""
    def rewrites(node: exp.Expression) -> list[Callable[[exp.Expression], exp.Expression]]:
        flipped = _FLIPPED_COMPARISON[type(node)]
        return [lambda n: flipped(this=n.this, expression=n.expression)]

    return _each_node_rewrite(trees, _is_comparison, rewrites)


def drop_where(trees: Trees) -> Iterator[Trees]:
    """The WHERE clause of a top-level SELECT, UPDATE or DELETE removed (one statement at a time)."""
    for s, tree in enumerate(trees):
        if isinstance(tree, (exp.Select, exp.Update, exp.Delete)) and tree.args.get("where") is not None:
            copies = [t.copy() for t in trees]
            copies[s].set("where", None)
            yield copies


# Swap targets per aggregate, most plausible confusion first (SUM/AVG, MIN/MAX are the mistakes
# a model makes; COUNT of a column is the last resort).
_AGGREGATE_SWAPS: dict[type, tuple[type, ...]] = {
    exp.Sum: (exp.Avg, exp.Count, exp.Max, exp.Min),
    exp.Avg: (exp.Sum, exp.Count, exp.Max, exp.Min),
    exp.Min: (exp.Max, exp.Avg, exp.Sum, exp.Count),
    exp.Max: (exp.Min, exp.Avg, exp.Sum, exp.Count),
    exp.Count: (exp.Sum, exp.Max, exp.Min, exp.Avg),
}


def _is_column_aggregate(node: exp.Expression) -> bool:
    """COUNT/SUM/AVG/MIN/MAX over an expression of columns (not `*`, not a constant), one argument."""
    if type(node) not in _AGGREGATE_SWAPS or node.args.get("expressions"):
        return False
    arg = node.this
    return isinstance(arg, exp.Expression) and not isinstance(arg, exp.Star) and arg.find(exp.Column) is not None


def swap_aggregate(trees: Trees) -> Iterator[Trees]:
    """One aggregate's function replaced by another of COUNT/SUM/AVG/MIN/MAX, argument kept
    (DISTINCT and an OVER clause included)."""
    def rewrites(node: exp.Expression) -> list[Callable[[exp.Expression], exp.Expression]]:
        return [lambda n, cls=cls: cls(this=n.this) for cls in _AGGREGATE_SWAPS[type(node)]]

    return _each_node_rewrite(trees, _is_column_aggregate, rewrites)


EDITS: dict[str, Edit] = {
    "flip_comparison": flip_comparison,
    "drop_where": drop_where,
    "swap_aggregate": swap_aggregate,
}


# --------------------------------------------------------------------------------------------
# Verification


def parse_gold(sql: str, backend: str = "sqlite", ran_as: str | None = None) -> Trees | None:
    """The gold's statements as sqlglot trees; None when no dialect parses them.

    Read first in the flavour the executor had to transpile the gold from (`ran_as`, an
    `ExecResult.dialect`), when it did: sqlglot may also read MySQL's `DATE_FORMAT(...)` as
    SQLite, as an unknown function, and the edits would then be written back in MySQL. Then in
    the backend's dialect, then in the flavours datasets mix.
    """
    dialects = dict.fromkeys(([ran_as] if ran_as in PARSE_FALLBACKS else []) + [backend, *PARSE_FALLBACKS])
    for dialect in dialects:
        trees = parse_statements(sql, dialect)
        if trees:
            return trees
    return None


def render(trees: Trees, backend: str = "sqlite") -> str:
    """Statements written back as one text in the backend's dialect."""
    texts = [t.sql(dialect=SQLGLOT_DIALECT.get(backend, backend)) for t in trees]
    return texts[0] if len(texts) == 1 else ";\n".join(texts) + ";"


def normalized(sql: str) -> str:
    """The identity of a candidate for deduplication: whitespace collapsed, no final ';'.
    Case is kept: it matters inside string literals."""
    return " ".join(sql.split()).rstrip(";").rstrip()


def near_misses(sql: str, sql_context: str, backend: str = "sqlite", *, max_per_kind: int = 3) -> list[dict]:
    """Verified near-misses of a gold query: `{"kind": edit name, "sql": candidate}` records,
    at most `max_per_kind` per edit, in `EDITS` order then edit order; deterministic.

    A candidate is kept when it runs and its outcome differs from the gold's under
    `outcomes_match` (row order counting when the gold orders its result). A gold that does not
    run, does not parse, or does not survive the sqlglot round trip gives []. Never raises.
    """
    try:
        return _near_misses(sql, sql_context, backend, max_per_kind)
    except Exception:  # noqa: BLE001 - a row that cannot be worked on gives no near-misses
        log.debug("near_misses failed on %r", sql[:200] if isinstance(sql, str) else sql, exc_info=True)
        return []


def _near_misses(sql: str, sql_context: str, backend: str, max_per_kind: int) -> list[dict]:
    executor = default_executor(backend)
    gold = gold_outcome(sql, sql_context, backend)  # the very outcome the execution reward compares with
    if not gold.ok:
        log.debug("gold does not run (%s): no near-misses", gold.error_kind)
        return []
    trees = parse_gold(sql, backend, gold.dialect)
    if trees is None:
        log.debug("gold does not parse: no near-misses")
        return []
    order_matters = gold_is_ordered(sql, backend)

    def same_outcome(text: str) -> bool | None:
        """Whether `text` gives the gold's outcome; None when it does not run."""
        result = executor.run(text, sql_context)
        return outcomes_match(gold, result, order_matters=order_matters) if result.ok else None

    unedited = render(trees, backend)
    if not same_outcome(unedited):
        log.debug("gold does not survive the sqlglot round trip: no near-misses")
        return []
    seen = {normalized(sql), normalized(unedited)}
    out: list[dict] = []
    for kind, edit in EDITS.items():
        kept = tries = 0
        for candidate_trees in edit(trees):
            if kept >= max_per_kind or tries >= MAX_TRIES_PER_KIND:
                break
            try:
                candidate = render(candidate_trees, backend)
            except Exception:  # noqa: BLE001 - an edited tree sqlglot cannot write: skip it
                log.debug("could not render a %s candidate", kind, exc_info=True)
                continue
            key = normalized(candidate)
            if key in seen:
                continue
            seen.add(key)
            tries += 1
            if same_outcome(candidate) is False:  # ran, and the outcome differs
                out.append({"kind": kind, "sql": candidate})
                kept += 1
    return out
