"""Trends over training steps: did a stage learn, beyond noise?

`reward_trend` fits a straight line to a value per training step and says whether its slope is
beyond noise (Student's t interval of the slope, `t_quantile_975`); `grpo_learning` reads GRPO's
rewards, that trend and the share of groups whose rewards all tie from TRL's log_history;
`trend_sentence` says a trend in words, for the console and the demo page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlgrpo.scoring.rewards import EXECUTABLE_TIED_METRIC
from sqlgrpo.report.stats import MISSING, Z_95, as_count, as_number, signed, within_noise

# Two-sided 95% (0.975) quantiles of Student's t for 1 to 30 degrees of freedom, from the standard
# table (checked against the exact values to 3 decimals); `t_quantile_975` goes on from there.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
MAX_TREND_DIGITS = 6  # decimals of a reward slope: finer than 1e-6 per step is no trend a reader can use


def t_quantile_975(df: int) -> float:
    """The two-sided 95% quantile of Student's t with `df` degrees of freedom: the table `T_975` up
    to 30, then the Cornish-Fisher expansion in 1/df around the normal quantile (Abramowitz and
    Stegun 26.7.5, two terms), within 0.0001 of the exact value there."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got df={df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_95
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def reward_trend(values: Sequence[float], steps: Sequence[float] | None = None) -> dict | None:
    """The straight line through a value per training step (ordinary least squares of value on
    step, steps 1..n unless given), and whether its slope is beyond noise.

    Returns {"steps": the number of points, "slope" (per step), "intercept" (at step 0),
    "interval": the slope's 95% interval (slope ± t·se, t with n − 2 degrees of freedom and se from
    the residual standard error), "beyond_noise": whether the interval excludes 0, "verdict":
    "rising beyond noise", "falling beyond noise" or "flat within noise"}. Pairs whose value or
    step is not a finite number are left out. None with fewer than 3 points (no residual is left to
    measure the noise with) or when all steps are the same (no line to fit). The steps of one run
    are not independent samples, so like the intervals above this is a guard against reading a
    wiggle as a trend, not a test to publish.

    >>> trend = reward_trend([1, 2, 2, 4, 5])
    >>> round(trend["slope"], 6), trend["verdict"]
    (1.0, 'rising beyond noise')
    """
    steps = range(1, len(values) + 1) if steps is None else steps
    if len(steps) != len(values):
        raise ValueError(f"reward_trend got {len(values)} values and {len(steps)} steps: give one step per value")
    points = [(x, y) for x, y in zip(map(as_number, steps), map(as_number, values)) if x is not None and y is not None]
    n = len(points)
    if n < 3:
        return None
    mean_x, mean_y = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    if len({y for _, y in points}) == 1:
        # a constant series is exactly flat; rounding in the mean would leave a slope of ~1e-33
        # with an interval of ~±1e-17 (steps 1, 2, 4), which reads as a number of 17 decimals
        slope, se = 0.0, 0.0
    else:
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
        residuals = sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in points)
        se = math.sqrt(residuals / (n - 2) / sxx)
    half = t_quantile_975(n - 2) * se
    interval = (slope - half, slope + half)
    beyond = not within_noise(interval)
    verdict = f"{'rising' if slope > 0 else 'falling'} beyond noise" if beyond else "flat within noise"
    return {"steps": n, "slope": slope, "intercept": mean_y - slope * mean_x, "interval": interval,
            "beyond_noise": beyond, "verdict": verdict}


def logged_series(log_history: Any, key: str) -> list[tuple[float, float]]:
    """(step, value) of each TRL log_history entry with a finite `key`; an entry without a step
    goes by its index."""
    points = []
    for index, entry in enumerate(log_history if isinstance(log_history, list) else []):
        value = as_number(entry.get(key)) if isinstance(entry, Mapping) else None
        if value is not None:
            step = as_number(entry.get("step"))
            points.append((index if step is None else step, value))
    return points


def grpo_learning(log_history: Any) -> dict | None:
    """Did GRPO learn? Its reward per step from TRL's trainer_state.json `log_history`, with the
    trend of it, and the share of groups whose completions all scored the same.

    Returns {"reward": [(step, reward), ...], "trend": `reward_trend` of it (None under 3 steps),
    "frac_reward_zero_std": [(step, share), ...], "frac_reward_zero_std_mean" (None when TRL did
    not log it), the same two for "frac_executable_zero_std", "rewards": {name: [(step, mean), ...]} from each "rewards/<name>/mean"}, or None
    when no entry has a reward. Entries without a key (eval logs, the end-of-training summary)
    and values that are not numbers are left out of that key's list.
    """
    reward = logged_series(log_history, "reward")
    if not reward:
        return None
    entries = [e for e in log_history if isinstance(e, Mapping)]
    keys = dict.fromkeys(k for e in entries for k in e
                         if isinstance(k, str) and k.startswith("rewards/") and k.endswith("/mean"))
    learning: dict[str, Any] = {"reward": reward, "trend": reward_trend([v for _, v in reward], [s for s, _ in reward])}
    for key in TIED_SHARES:
        series = logged_series(log_history, key)
        learning[key] = series
        learning[f"{key}_mean"] = sum(v for _, v in series) / len(series) if series else None
    learning["rewards"] = {k.removeprefix("rewards/").removesuffix("/mean"): logged_series(log_history, k)
                           for k in keys}
    return learning


# TRL's share of groups whose total rewards all tie, and the executable reward's share of groups
# whose answers all run or all fail (`rewards.EXECUTABLE_TIED_METRIC`): with continuous rewards in
# the total the first is ~0 even when most groups say nothing about running SQL.
TIED_SHARES = ("frac_reward_zero_std", EXECUTABLE_TIED_METRIC)


def trend_sentence(trend: Mapping) -> str | None:
    """"slope +0.031 per step [95%: +0.010, +0.052] over 24 steps: rising beyond noise" for a
    `reward_trend` (as computed, or read back from JSON); None when it is broken."""
    interval = trend.get("interval")
    bounds = [as_number(x) for x in interval] if isinstance(interval, (list, tuple)) and len(interval) == 2 else []
    slope, n = as_number(trend.get("slope")), as_count(trend.get("steps"))
    if slope is None or n is None or len(bounds) != 2 or None in bounds:
        return None
    largest = max(abs(b) for b in bounds)
    # two significant digits of the larger bound, 3 to MAX_TREND_DIGITS decimals: a slope of 0.0004
    # per step over a long run must not read "±0.000"
    digits = min(max(3, 1 - math.floor(math.log10(largest))), MAX_TREND_DIGITS) if largest > 0 else 3
    lo, hi = (signed(b, digits) for b in bounds)
    return f"slope {signed(slope, digits)} per step [95%: {lo}, {hi}] over {n} steps: {trend.get('verdict') or MISSING}"
