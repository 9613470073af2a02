"""The learning curve of GRPO on the CPU demo's settings: held-out accuracy every few steps.

    python benchmarks/bench_learning.py [--adapter DIR] [--steps 60] [--every 10] [--heldout N]
                                        [--config FILE] [--output-dir DIR] [--resume] [--fresh-sft]
    python benchmarks/bench_learning.py --from-state DIR/grpo/trainer_state.json [--start-json FILE]
                                        [--every 10]

GRPO (`sqlgrpo.stages.train.train`) runs with the `train` section of the demo config
(`sqlgrpo/data/demo.yaml`, or `--config`), from an SFT adapter, for `--steps` steps; every
`--every` steps the train stage's own held-out check (`heldout_callback`) answers the held-out
questions greedily and logs `heldout/*` into TRL's log history. Step 0 is measured here the same
way before any GRPO step: the start adapter's greedy answers (`generate_answers`, as many new
tokens as the train section's max_completion_length, the prompts built as `train` builds them)
scored by `sqlgrpo.scoring.metrics.heldout_metrics`.

The start adapter is `--adapter`, else the demo's SFT adapter (`outputs/demo/sft/final_adapter`)
when it exists, else one trained here first with the demo's SFT settings (`run_sft` on the
config's `sft` section) into `<output dir>/sft`. `--fresh-sft` trains one even when the demo's
exists (a `sqlgrpo demo --quick` leaves an adapter of fewer SFT steps than the demo's). The data
is the embedded sample prepared into `<output dir>/data` as `sqlgrpo demo` prepares it (same
seed, so the same split as the demo's: the held-out questions are not in the SFT or GRPO data).

Printed at the end, and written to `<output dir>/learning_curve.json`:
- one row per check (step 0, every, 2*every, ..., steps): valid SQL, missing column, format
  compliance, execution accuracy, test-suite accuracy, and the answers whose SQL joins,
  aggregates, groups (GROUP BY) and orders (ORDER BY), as a count and a share of n (the held-out
  questions whose gold runs, the metrics' denominator); "-" where a check is missing; under it,
  how many golds have each of those four (a policy drifting into lookups that run gains valid
  SQL while its answers lose the golds' structure);
- for each block of `every` steps ending at a row, the mean of TRL's logged `reward`,
  `frac_reward_zero_std` (groups whose completions all got the same reward: no learning signal),
  `frac_executable_zero_std` (groups whose SQL all runs or all fails: no signal about running SQL),
  every `rewards/<name>/mean` and TRL's `step_time` (the GRPO step alone, without the checks);
- the wall time of the GRPO run and its seconds per step (held-out checks and checkpoint saves
  included), and how long the step-0 check took (each later check takes about as long).

`--from-state FILE` builds and prints the same from an existing trainer_state.json (a finished
run's, or a `checkpoint-N/` one of an interrupted run) without training; `--start-json FILE`
adds the step-0 row (the `start_metrics.json` a full run writes; it also holds n, without which
only the shares are shown). The held-out rows are read at the exact steps they were logged,
which holds for `logging_steps: 1` (set here for the runs this script makes).

Time, estimated from the demo's runs on 2 CPU cores: a GRPO step ~45 s (demo.yaml), a held-out
check of the 45 questions ~2 min (the quick demo evaluates 12 in ~33 s), so the defaults (60
steps, 7 checks) take about an hour, plus ~8 min when the SFT adapter is trained first. `--resume`
continues an interrupted run: it reuses the SFT adapter trained here, the step-0 metrics, and
GRPO's last complete checkpoint; without it `<output dir>/grpo` is started afresh.
"""

from __future__ import annotations

import argparse
import gc
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from sqlgrpo.common import paths
from sqlgrpo.scoring.rewards import EXECUTABLE_TIED_METRIC
from sqlgrpo.common.files import read_json, write_json
from sqlgrpo.report.stats import SHAPE_LABELS
from sqlgrpo.scoring.metrics import SHAPE_FEATURES

DEFAULT_STEPS = 60
DEFAULT_EVERY = 10
DEFAULT_OUTPUT = "bench_learning"  # under the outputs root: outputs/bench_learning
START_FILE = "start_metrics.json"
RESULT_FILE = "learning_curve.json"
HELDOUT_BATCH_SIZE = 8  # as the train stage's held-out check generates (heldout_callback)
HELDOUT_PREFIX = "heldout/"
# The held-out metrics in the table, in its column order (the keys of heldout_metrics).
HELDOUT_COLUMNS = (("valid_sql_rate", "valid SQL"), ("missing_column_rate", "missing column"),
                   ("format_compliance", "format"), ("execution_accuracy", "execution acc"),
                   ("test_suite_accuracy", "test-suite acc"),
                   *((f"{feature}_rate", SHAPE_LABELS[feature]) for feature in SHAPE_FEATURES))
GOLD_PREFIX = "gold_"  # heldout_metrics' share of golds with each of SHAPE_FEATURES: gold_join_rate...
STEP_TIME = "step_time"  # TRL's seconds of one optimizer step's micro-steps (generation, rewards, loss)
# then every rewards/<name>/mean, then STEP_TIME
TRAINING_KEYS = ("reward", "frac_reward_zero_std", EXECUTABLE_TIED_METRIC)

log = logging.getLogger("bench_learning")


# --------------------------------------------------------------------------------------------
# The table (pure functions of the logged numbers)

def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _reward_key(key: str) -> bool:
    return key.startswith("rewards/") and key.endswith("/mean")


def _heldout_cells(measured: dict | None, n: int | None) -> tuple[dict | None, dict | None]:
    """(share per metric, count per metric) of one check; None for a missing check, a None
    value for a metric that check did not log."""
    if not measured:
        return None, None
    shares = {name: measured.get(name) for name, _ in HELDOUT_COLUMNS}
    counts = {name: round(v * n) if v is not None and n else None for name, v in shares.items()}
    return shares, counts


def _block_means(entries: list[dict], first: int, last: int) -> dict | None:
    """The mean of each training number over the log entries of steps first..last."""
    if not entries:
        return None
    rewards = sorted({k for e in entries for k in e if _reward_key(k)})
    means = {}
    for key in (*TRAINING_KEYS, *rewards, STEP_TIME):
        values = [e[key] for e in entries if _number(e.get(key))]
        if values:
            means[key] = sum(values) / len(values)
    return {"steps": [first, last], "logged_steps": len(entries), "means": means}


def learning_table(start: dict, log_history: list[dict], every: int) -> list[dict]:
    """One row per check: step 0 (`start`: heldout_metrics' keys and `n`, or {} when not
    measured), then every `every` steps up to the last logged step (and that step when it is not
    a multiple). Each row: `step`, `heldout` (share per metric, None when no check was logged at
    that step), `counts` (of n, None without n), `training` (the means of TRL's numbers over the
    steps since the previous row; None at step 0 or when none was logged)."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    n = (start or {}).get("n")
    heldout_at: dict[int, dict] = {}
    training: list[tuple[int, dict]] = []
    for entry in log_history:
        step = entry.get("step")
        if not isinstance(step, int):
            continue
        measured = {k[len(HELDOUT_PREFIX):]: v for k, v in entry.items() if k.startswith(HELDOUT_PREFIX) and _number(v)}
        if measured:
            heldout_at.setdefault(step, {}).update(measured)
        # The final entry of a run (train_runtime, train_loss) has no reward: it is not a step's.
        if "reward" in entry or any(_reward_key(k) for k in entry):
            training.append((step, entry))
    last = max([s for s, _ in training] + list(heldout_at), default=0)
    checks = [0, *range(every, last + 1, every)]
    if last % every:
        checks.append(last)
    start_measured = {name: start[name] for name, _ in HELDOUT_COLUMNS if _number((start or {}).get(name))}
    rows, previous = [], 0
    for step in checks:
        shares, counts = _heldout_cells(start_measured if step == 0 else heldout_at.get(step), n)
        block = [e for s, e in training if previous < s <= step]
        rows.append({"step": step, "heldout": shares, "counts": counts,
                     "training": _block_means(block, previous + 1, step) if step else None})
        previous = step
    return rows


def run_summary(log_history: list[dict], wall_s: float | None = None) -> dict:
    """The run's steps, wall time (`wall_s`, else TRL's train_runtime) and seconds per step, and
    the mean of TRL's step_time."""
    steps = max((e["step"] for e in log_history if isinstance(e.get("step"), int)
                 and ("reward" in e or any(_reward_key(k) for k in e))), default=0)
    if wall_s is None:
        wall_s = next((e["train_runtime"] for e in reversed(log_history) if _number(e.get("train_runtime"))), None)
    step_times = [e[STEP_TIME] for e in log_history if _number(e.get(STEP_TIME))]
    return {"steps": steps, "wall_s": wall_s, "seconds_per_step": wall_s / steps if wall_s is not None and steps else None,
            "mean_step_time_s": sum(step_times) / len(step_times) if step_times else None}


def _share(share: float | None, count: int | None, n: int | None) -> str:
    if share is None:
        return "-"
    return f"{count}/{n} {100 * share:5.1f}%" if count is not None else f"{100 * share:.1f}%"


def _reward_label(key: str) -> str:
    name = key[len("rewards/"):-len("/mean")]
    return name.removesuffix("_reward")


def gold_shapes(start: dict | None, n: int | None) -> str | None:
    """The line saying how many golds have each of SHAPE_FEATURES, from the step-0 metrics
    (`gold_join_rate`...), or None when they were not measured."""
    shares = [(SHAPE_LABELS[f], (start or {}).get(f"{GOLD_PREFIX}{f}_rate")) for f in SHAPE_FEATURES]
    if not all(_number(v) for _, v in shares):
        return None
    return "the golds: " + ", ".join(f"{label} {_share(v, round(v * n) if n else None, n)}" for label, v in shares)


def render_table(rows: list[dict], n: int | None, summary: dict | None = None,
                 heldout_check_s: float | None = None, start: dict | None = None) -> str:
    """The held-out table (with the golds' structure from `start`, the step-0 metrics), the
    training-reward table and the times, as printed text."""
    lines = [f"held-out check: greedy answers to {n if n else '?'} questions whose gold runs "
             f"(count/n and share; '-': not measured; joins... : answers whose SQL has them)"]
    headers = ["step"] + [label for _, label in HELDOUT_COLUMNS]
    cells = [[str(r["step"])] + [_share((r["heldout"] or {}).get(name), (r["counts"] or {}).get(name), n)
                                 for name, _ in HELDOUT_COLUMNS] for r in rows]
    lines += _grid(headers, cells)
    golds = gold_shapes(start, n)
    if golds:
        lines.append(golds)

    keys = []
    for r in rows:
        for key in (r["training"] or {}).get("means", {}):
            if key not in keys:
                keys.append(key)
    order = [k for k in TRAINING_KEYS if k in keys] + sorted(k for k in keys if _reward_key(k))
    order += [STEP_TIME] if STEP_TIME in keys else []
    if order:
        labels = {"reward": "reward", "frac_reward_zero_std": "zero-std groups",
                  EXECUTABLE_TIED_METRIC: "runs-tied groups", STEP_TIME: "step s"}
        headers = ["steps"] + [labels.get(k) or _reward_label(k) for k in order]
        cells = []
        for r in rows:
            if not r["training"]:
                continue
            first, last = r["training"]["steps"]
            means = r["training"]["means"]
            cells.append([f"{first}-{last}"] + [f"{means[k]:.{1 if k == STEP_TIME else 3}f}" if k in means else "-"
                                                for k in order])
        lines += ["", "training, mean over each block of steps (TRL's log; reward: the weighted sum; "
                      "zero-std groups: share of prompts whose completions all scored alike; runs-tied "
                      "groups: share whose SQL all runs or all fails)"]
        lines += _grid(headers, cells)

    if summary:
        lines.append("")
        wall, per_step, step_time = summary.get("wall_s"), summary.get("seconds_per_step"), summary.get("mean_step_time_s")
        if wall is not None:
            ran = summary.get("steps_this_run", summary["steps"])
            resumed = f" (resumed: {summary['steps']} in all)" if ran != summary["steps"] else ""
            rate = f", {per_step:.1f} s a step" if per_step is not None else ""
            lines.append(f"GRPO: {ran} steps in {wall:.0f} s wall{rate}{resumed}; held-out checks and "
                         f"checkpoint saves included")
        if step_time is not None:
            lines.append(f"mean TRL step_time: {step_time:.1f} s (generation, rewards, loss; no checks)")
    if heldout_check_s is not None:
        lines.append(f"one held-out check (step 0): {heldout_check_s:.0f} s")
    return "\n".join(lines)


def _grid(headers: list[str], cells: list[list[str]]) -> list[str]:
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    out = [" | ".join(h.rjust(w) for h, w in zip(headers, widths)), "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return out


# --------------------------------------------------------------------------------------------
# The run

def default_adapter() -> Path:
    return paths.output_dir("demo") / "sft" / "final_adapter"


def prepared_data(out: Path, shared: Any) -> dict[str, str]:
    """The embedded sample prepared into out/data as the demo prepares it; the config overrides
    that point a stage at it."""
    from sqlgrpo.stages.prepare import PrepareOptions, prepare

    data = out / "data"
    prepare(PrepareOptions(input="embedded", output_dir=str(data), backend=shared.backend, seed=shared.seed))
    return {"train_file": str(data / paths.TRAIN_FILE_NAME), "eval_file": str(data / paths.EVAL_FILE_NAME),
            "prepare_input": None}


def start_adapter(args: argparse.Namespace, out: Path, config_file: Path, data: dict) -> Path:
    """--adapter, the demo's SFT adapter, or one trained here with the demo's SFT settings."""
    if args.adapter is not None:
        return args.adapter
    if default_adapter().is_dir() and not args.fresh_sft:
        return default_adapter()
    folder = out / "sft"
    if args.resume and (folder / "final_adapter" / "adapter_config.json").is_file():
        log.info("--resume: reusing the SFT adapter trained earlier in %s", folder)
        return folder / "final_adapter"
    from sqlgrpo.stages.config import resolve
    from sqlgrpo.stages.sft import run_sft

    if folder.exists():
        shutil.rmtree(folder)  # an earlier run's checkpoints must not leak in
    stage = resolve("sft", config_file, {**data, "output_dir": str(folder)})
    log.info("no SFT adapter given and none at %s: training one (%d steps, the demo's SFT settings)",
             default_adapter(), stage.section.max_steps)
    return Path(run_sft(stage)["final_adapter"])


def measure_start(stage: Any, adapter: Path) -> dict:
    """The start adapter's greedy answers to the held-out questions, scored as the train stage's
    held-out check scores them; with n (the questions whose gold runs) and the seconds it took."""
    from sqlgrpo.data.records import read_records
    from sqlgrpo.llm.generation import generate_answers
    from sqlgrpo.llm.models import load_model
    from sqlgrpo.llm.prompts import prompt_records
    from sqlgrpo.scoring.metrics import heldout_metrics
    from sqlgrpo.scoring.verdict import gold_outcome

    shared, cfg = stage.shared, stage.section
    model, tokenizer = load_model(shared.model, adapter=str(adapter), merge=True)  # the same answers, faster
    budget = shared.max_seq_length - cfg.max_completion_length
    records, dropped = prompt_records(read_records(shared.eval_file, cfg.heldout_samples), tokenizer, budget,
                                      template=shared.system_prompt, backend=shared.backend,
                                      include_inserts=shared.include_inserts)
    began = time.perf_counter()
    answers = generate_answers(model, tokenizer, [r["prompt"] for r in records],
                               max_new_tokens=cfg.max_completion_length, batch_size=HELDOUT_BATCH_SIZE)
    measured = heldout_metrics([a[0].text for a in answers], records, shared.backend)
    seconds = time.perf_counter() - began
    # n as the metrics count it: the questions whose gold runs (cached: not run again).
    n = sum(gold_outcome(r["sql"], r["sql_context"], shared.backend).ok for r in records)
    del model
    gc.collect()
    return {**measured, "n": n, "questions": len(records), "dropped_as_too_long": dropped,
            "seconds": round(seconds, 1), "adapter": str(adapter), "eval_file": shared.eval_file,
            "heldout_samples": cfg.heldout_samples}


def run(args: argparse.Namespace) -> dict:
    """SFT adapter, step 0, GRPO; returns what learning_curve.json holds."""
    from sqlgrpo.data.records import read_records
    from sqlgrpo.stages.config import resolve
    from sqlgrpo.stages.train import train

    out = args.output_dir or paths.output_dir(DEFAULT_OUTPUT)
    out.mkdir(parents=True, exist_ok=True)
    config_file = args.config
    data = prepared_data(out, resolve("train", config_file).shared)
    heldout = args.heldout or len(read_records(data["eval_file"]))
    adapter = start_adapter(args, out, config_file, data)
    if not (adapter / "adapter_config.json").is_file():
        raise SystemExit(f"--adapter {adapter}: no adapter_config.json there; pass an SFT stage's final_adapter")
    adapter_steps = (read_json(adapter.parent / "sft_summary.json") or {}).get("steps")
    demo_sft_steps = resolve("sft", config_file).section.max_steps
    if adapter_steps is not None and adapter_steps < demo_sft_steps:
        log.warning("the start adapter had %d SFT steps, the config's sft section %d (a `demo --quick` adapter?); "
                    "--fresh-sft trains one with the config's settings", adapter_steps, demo_sft_steps)
    grpo_dir = out / "grpo"
    stage = resolve("train", config_file, {
        **data, "output_dir": str(grpo_dir), "init_adapter": str(adapter), "max_steps": args.steps,
        "heldout_steps": args.every, "heldout_samples": heldout, "resume": args.resume,
        "logging_steps": 1})  # the held-out rows are read at the steps they are logged
    log.info("start adapter %s (%s SFT steps); GRPO %d steps, a held-out check of %d questions every %d",
             adapter, adapter_steps if adapter_steps is not None else "?", args.steps, heldout, args.every)

    saved = read_json(out / START_FILE) or {}
    if args.resume and saved.get("adapter") == str(adapter) and saved.get("heldout_samples") == heldout:
        log.info("--resume: reusing the step-0 metrics in %s", out / START_FILE)
        start = saved
    else:
        start = measure_start(stage, adapter)
        write_json(out / START_FILE, start)
    log.info("step 0: execution %.1f%%, format %.1f%% of %d", 100 * start["execution_accuracy"],
             100 * start["format_compliance"], start["n"])

    if not args.resume and grpo_dir.exists():
        shutil.rmtree(grpo_dir)  # an earlier run's checkpoints and log must not leak in
    began = time.perf_counter()
    trained = train(stage)
    wall = time.perf_counter() - began
    history = (read_json(grpo_dir / "trainer_state.json") or {}).get("log_history") or []
    # A resumed run's wall time covers only the steps it ran; TRL's train_runtime has the same
    # limit, so the seconds per step are this invocation's steps only.
    ran = trained["steps"] - _resumed_step(trained.get("resumed_from") or "")
    summary = run_summary(history, wall)
    summary["seconds_per_step"] = wall / ran if ran else None
    summary["steps_this_run"] = ran
    return {"settings": {"config": str(config_file), "adapter": str(adapter), "adapter_sft_steps": adapter_steps,
                         "steps": args.steps, "every": args.every, "heldout": heldout, "model": stage.shared.model,
                         "eval_file": data["eval_file"], "trainer_state": str(grpo_dir / "trainer_state.json")},
            "n": start["n"], "start": start, "rows": learning_table(start, history, args.every), "summary": summary}


def _resumed_step(checkpoint: str) -> int:
    name = Path(checkpoint).name if checkpoint else ""
    return int(name.split("-")[1]) if name.startswith("checkpoint-") and name.split("-")[1].isdigit() else 0


def from_state(args: argparse.Namespace) -> dict:
    """learning_curve.json's content from an existing trainer_state.json (no training)."""
    if not args.from_state.is_file():
        raise SystemExit(f"--from-state {args.from_state}: no such file (a run's trainer_state.json, or "
                         f"checkpoint-N/trainer_state.json of an interrupted one)")
    state = read_json(args.from_state)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise SystemExit(f"--from-state {args.from_state}: not a trainer_state.json (no log_history list)")
    start = {}
    if args.start_json is not None:
        start = read_json(args.start_json)
        if not isinstance(start, dict):
            raise SystemExit(f"--start-json {args.start_json}: not a JSON object of step-0 metrics")
    history = state["log_history"]
    return {"settings": {"trainer_state": str(args.from_state), "start_json": str(args.start_json or ""),
                         "every": args.every},
            "n": start.get("n"), "start": start, "rows": learning_table(start, history, args.every),
            "summary": run_summary(history)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", type=Path, default=None, metavar="DIR",
                        help="SFT adapter to start GRPO from (default: outputs/demo/sft/final_adapter when it "
                             "exists, else one trained first with the demo's SFT settings)")
    parser.add_argument("--fresh-sft", action="store_true",
                        help="train the start adapter with the demo's SFT settings even when the demo's exists")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="GRPO steps (default: %(default)s)")
    parser.add_argument("--every", type=int, default=DEFAULT_EVERY,
                        help="a held-out check every N steps, and the block of steps each reward mean covers "
                             "(default: %(default)s)")
    parser.add_argument("--heldout", type=int, default=None, metavar="N",
                        help="held-out questions checked (default: all of the eval file, 45 for the sample)")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.yaml",
                        help="config file whose sft and train sections are used (default: the demo's, "
                             "sqlgrpo/data/demo.yaml)")
    parser.add_argument("--output-dir", type=Path, default=None, metavar="DIR",
                        help="where data/, sft/, grpo/, start_metrics.json and learning_curve.json go (default: "
                             "outputs/bench_learning; with --from-state, learning_curve.json is written only "
                             "when this is given)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in the output folder (SFT adapter, step 0, GRPO checkpoint)")
    parser.add_argument("--from-state", type=Path, default=None, metavar="FILE",
                        help="no training: the table of an existing trainer_state.json")
    parser.add_argument("--start-json", type=Path, default=None, metavar="FILE",
                        help="with --from-state: the step-0 metrics (a run's start_metrics.json)")
    args = parser.parse_args()
    if min(args.steps, args.every, args.heldout or 1) < 1:
        parser.error("--steps, --every and --heldout must be at least 1")
    if args.start_json is not None and args.from_state is None:
        parser.error("--start-json goes with --from-state")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)

    if args.from_state is not None:
        result = from_state(args)
        out = args.output_dir
    else:
        from sqlgrpo.stages.demo import demo_config_path

        args.config = args.config or demo_config_path()
        result = run(args)
        out = args.output_dir or paths.output_dir(DEFAULT_OUTPUT)
    settings = result["settings"]
    if "adapter" in settings:
        print(f"start adapter {settings['adapter']} ({settings['adapter_sft_steps'] or '?'} SFT steps); "
              f"model {settings['model']}; config {settings['config']}")
    print(render_table(result["rows"], result["n"], result["summary"], (result["start"] or {}).get("seconds"),
                       result["start"]))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / RESULT_FILE, result)
        print(f"\nwritten: {out / RESULT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
