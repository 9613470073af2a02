"""Reward audit: does every reward prefer the gold answer to a verified near-miss of it?

    sqlgrpo audit-rewards [--data FILE] [--limit N] [--backend sqlite] [--output FILE.json]

For each row, the gold's answer and one answer per near-miss (`sqlgrpo.scoring.near_misses`:
one AST edit away from the gold, verified by the metric's verdict to run with another outcome),
each written as the training stages write answers (`sqlgrpo.scoring.answers.target_answer`: a
reasoning naming the tables and columns the query uses, then the SQL), are scored together by
every reward in `sqlgrpo.scoring.rewards.REWARDS`, called as TRL calls them (one group per row,
the dataset's columns as keyword lists). The audit thus measures the very pairs the contrastive
stage trains on; a reward that only reads the format ties by construction.

Per reward, over gold/near-miss pairs: how often the gold scores strictly higher, the same, or
lower, and the mean reward of each side; the same per edit kind. A last row, `weighted_total`,
ranks by the sum the trainer uses (`DEFAULT_WEIGHTS`, a reward's None counting as nothing, as
TRL's nansum does). Near-misses have another outcome by construction, so the execution reward
must rank the gold higher in every pair (`execution_accepts`): the command exits with status 1
when it does not. Rows whose gold fails are skipped and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from sqlgrpo.scoring.answers import target_answer
from sqlgrpo.scoring.near_misses import near_misses
from sqlgrpo.scoring.rewards import DEFAULT_WEIGHTS, REWARDS
from sqlgrpo.scoring.verdict import gold_outcome

log = logging.getLogger(__name__)

EXECUTION_REWARD = "execution_reward"  # the reward the acceptance check is about
WEIGHTED_TOTAL = "weighted_total"  # DEFAULT_WEIGHTS applied as TRL does: what GRPO ranks by
SHARE_DIGITS = 4  # shares in the report: enough to tell 1 pair in 10,000 from none
MEAN_DIGITS = 4


def _fields(record: Any) -> Mapping[str, Any]:
    """A record's fields: a `sources.RawRecord` (its `.fields`) or a plain mapping (a prepared row)."""
    fields = getattr(record, "fields", record)
    return fields if isinstance(fields, Mapping) else {}


@dataclass
class PairStats:
    """Gold-vs-near-miss comparisons of one reward (optionally of one edit kind)."""

    gold_higher: int = 0
    tie: int = 0
    near_miss_higher: int = 0
    unjudged: int = 0  # the reward returned None for one side: it cannot judge this row
    gold_sum: float = 0.0
    near_miss_sum: float = 0.0

    def add(self, gold: float | None, near_miss: float | None) -> None:
        if gold is None or near_miss is None:
            self.unjudged += 1
            return
        self.gold_sum += gold
        self.near_miss_sum += near_miss
        if gold > near_miss:
            self.gold_higher += 1
        elif gold == near_miss:
            self.tie += 1
        else:
            self.near_miss_higher += 1

    @property
    def pairs(self) -> int:
        return self.gold_higher + self.tie + self.near_miss_higher

    def to_dict(self) -> dict:
        n = self.pairs

        def share(count: int) -> float | None:
            return round(count / n, SHARE_DIGITS) if n else None

        return {
            "pairs": n,
            "gold_higher": share(self.gold_higher),
            "tie": share(self.tie),
            "near_miss_higher": share(self.near_miss_higher),
            "mean_gold": round(self.gold_sum / n, MEAN_DIGITS) if n else None,
            "mean_near_miss": round(self.near_miss_sum / n, MEAN_DIGITS) if n else None,
            "unjudged_pairs": self.unjudged,
        }


def weighted_total(scores: Mapping[str, float | None], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float:
    """The trainer's scalar reward for one completion: Σ weight × reward, None skipped (TRL's nansum)."""
    return sum(weights.get(name, 0.0) * score for name, score in scores.items() if score is not None)


def audit_rewards(records: Iterable[Any], backend: str = "sqlite", *, max_per_kind: int = 3,
                  progress: bool = True) -> dict:
    """Score each row's gold completion against its near-misses with every reward.

    `records` are `sources.RawRecord`s or mappings with `sql` and `sql_context`. Returns the
    report: row counts (scored, skipped because the gold fails, without any near-miss), the
    near-misses per edit kind, and per reward the pair statistics (`PairStats.to_dict`: shares
    of pairs where the gold scores higher / the same / lower, means of both sides over judged
    pairs) overall and per edit kind.
    """
    names = [*REWARDS, WEIGHTED_TOTAL]
    stats = {name: PairStats() for name in names}
    by_kind: dict[str, dict[str, PairStats]] = {name: {} for name in names}
    kinds: Counter[str] = Counter()
    rows = scored = gold_failed = without = 0
    records = list(records)
    for record in tqdm(records, desc="audit-rewards", unit="row", disable=not progress):
        rows += 1
        fields = _fields(record)
        gold, context = fields.get("sql"), fields.get("sql_context")
        if not (isinstance(gold, str) and isinstance(context, str)) or not gold_outcome(gold, context, backend).ok:
            gold_failed += 1
            continue
        misses = near_misses(gold, context, backend, max_per_kind=max_per_kind)
        if not misses:
            without += 1
            continue
        scored += 1
        completions = [target_answer(gold, context, backend)] + [target_answer(m["sql"], context, backend)
                                                                 for m in misses]
        k = len(completions)
        kinds.update(m["kind"] for m in misses)
        scores = {name: reward(completions, sql=[gold] * k, sql_context=[context] * k, backend=[backend] * k)
                  for name, reward in REWARDS.items()}
        scores[WEIGHTED_TOTAL] = [weighted_total({name: scores[name][i] for name in REWARDS}) for i in range(k)]
        for name, row_scores in scores.items():
            for miss, score in zip(misses, row_scores[1:]):
                stats[name].add(row_scores[0], score)
                by_kind[name].setdefault(miss["kind"], PairStats()).add(row_scores[0], score)
    report = {
        "backend": backend,
        "rows": rows,
        "rows_scored": scored,
        "skipped_gold_failed": gold_failed,
        "rows_without_near_misses": without,
        "near_misses": sum(kinds.values()),
        "near_misses_by_kind": dict(sorted(kinds.items())),
        "rewards": {name: {**stats[name].to_dict(),
                           "by_kind": {kind: s.to_dict() for kind, s in sorted(by_kind[name].items())}}
                    for name in names},
    }
    execution = report["rewards"].get(EXECUTION_REWARD, {})
    share = execution.get("gold_higher")
    log.info("audit: %d rows, %d scored, %d near-misses; execution reward ranks the gold higher in %s of %d pairs",
             rows, scored, report["near_misses"], "-" if share is None else f"{100 * share:.1f}%",
             execution.get("pairs", 0))
    return report


def execution_accepts(report: dict) -> bool:
    """The acceptance check: the execution reward ranks the gold strictly higher in every judged
    pair and judges them all (true when there are no pairs at all)."""
    execution = report["rewards"].get(EXECUTION_REWARD, {})
    return execution.get("pairs", 0) == 0 or (execution.get("gold_higher") == 1.0
                                              and execution.get("unjudged_pairs", 0) == 0)
