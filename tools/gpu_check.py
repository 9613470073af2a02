#!/usr/bin/env python3
"""A check of sqlgrpo's GPU paths on one CUDA GPU, for the day a GPU machine is at hand.

    make gpu-check TOKENIZER=DIR          # PYTHONPATH=src python3 tools/gpu_check.py --tokenizer DIR
    make gpu-check MODEL=DIR              # a whole checkpoint folder instead of the tiny model
    python tools/gpu_check.py export-tokenizer DIR   # here: the embedded model's tokenizer (~3.5 MB)

Made for an air-gapped node: no hub, no registry, no `make setup`. It runs on the machine's own
Python and packages, prints their versions, then runs four checks, each in a subprocess of its own
(`gpu_check.py run-one NAME ...`) with a time limit, so that one crash does not hide the others:

1. `grpo-bf16`: 2 GRPO steps of sqlgrpo's `train` stage in bf16 (configs/gpu-7b.yaml, sizes cut
   down), with vLLM colocated when vLLM is installed, with the held-out check at step 2;
2. `qlora-4bit`: 2 QLoRA steps (configs/gpu-7b-qlora.yaml: 4-bit NF4 base, bf16), no vLLM;
3. `vllm-eval-lora-r32`: the `eval` stage with `use_vllm` on a rank-32 LoRA adapter (the recipe's
   rank, above vLLM's default maximum of 16);
4. `resume`: 2 steps saving every step, then a run with `resume` to step 3 from checkpoint-2.

The model is a tiny randomly initialised Llama (2 layers, hidden size 128) built from a config
around the tokenizer passed in, saved with it as a local checkpoint folder; the data is a handful
of the embedded sample's records, prepared into the work folder. Each check prints one line,
`PASS: <check> (<seconds> s, detail)`, `FAIL: <check>: <reason>` or `SKIPPED: <check>: <reason>`;
the exit code is 1 when a check failed, else 0. Without a CUDA GPU (or without torch) every check
is SKIPPED within seconds: nothing but torch is imported before that test. CI does not run this.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SCRIPT = Path(__file__).resolve()
GPU_CONFIG = ROOT / "configs" / "gpu-7b.yaml"  # the recipe: bf16, LoRA rank 32, vLLM colocated
QLORA_CONFIG = ROOT / "configs" / "gpu-7b-qlora.yaml"

GRPO, QLORA, VLLM_EVAL, RESUME = "grpo-bf16", "qlora-4bit", "vllm-eval-lora-r32", "resume"
CHECKS = (GRPO, QLORA, VLLM_EVAL, RESUME)
NO_GPU = "no CUDA GPU on this machine"
GPU_EXTRAS = "pip install -e '.[gpu]'"

# Sizes that make every check take seconds once the libraries are loaded.
STEPS = 2
GENERATIONS = 2             # one GRPO group of 2 completions per step
COMPLETION_TOKENS = 16
TRAIN_PROMPTS = 4
HELDOUT_SAMPLES = 2
EVAL_QUESTIONS = 4
SAMPLE_ROWS = 16            # embedded-sample rows prepared: 12 to train on, 4 held out
EVAL_FRACTION = 0.25
VLLM_MEMORY_SHARE = 0.2     # colocated vLLM's share of the GPU: the tiny model needs little
LORA_RANK = 32              # configs/gpu-7b.yaml's; vLLM refuses ranks above its max_lora_rank (16 by default)
# The tiny model. head_dim 64 rather than 128 / 4 = 32: 64 is the size every vLLM attention backend
# is built for (SmolLM2's, Llama's); heads x head_dim above hidden_size is Qwen3's shape (16 x 128 > 1024).
TINY_MODEL = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=64, max_position_embeddings=2048)

CHECK_TIMEOUT_S = 300.0     # one check: vLLM's start (compile, CUDA graphs: ~1 min) and 2 tiny steps, with room
TOTAL_BUDGET_S = 570.0      # all four under 10 minutes; a check never gets more than what is left
KILL_WAIT_S = 30.0
LOG_TAIL_CHARS = 300
# Versions printed first, in this order (distribution names); torch's and CUDA's come from torch.
VERSIONED = ("transformers", "trl", "peft", "accelerate", "vllm", "bitsandbytes", "deepspeed")
OPTIONAL = ("vllm", "bitsandbytes")  # packages that decide which checks run
# sqlgrpo's own dependencies that the checks import (module names): named in the header when missing.
SQLGRPO_NEEDS = ("datasets", "sqlglot", "apsw", "duckdb", "yaml", "tqdm", "rich")
EXPORT_HINT = ("run `python tools/gpu_check.py export-tokenizer DIR` where the project is set up (`make setup`), "
               "copy DIR here and pass TOKENIZER=DIR (or MODEL=DIR for a whole checkpoint folder)")


# --------------------------------------------------------------------------------------------
# What runs (pure functions, tested without a GPU)

@dataclass(frozen=True)
class PlannedCheck:
    name: str
    skip_reason: str | None = None  # None: the check runs
    use_vllm: bool = False


def plan_checks(has_gpu: bool, installed: Collection[str], model_problem: str | None = None) -> list[PlannedCheck]:
    """Which checks run, given a GPU or not, the importable packages among OPTIONAL, and why no
    model is at hand (None: one is). The reasons in that order: no GPU, a missing package, no model."""
    needs = {QLORA: "bitsandbytes", VLLM_EVAL: "vllm"}
    planned = []
    for name in CHECKS:
        package = needs.get(name)
        if not has_gpu:
            reason = NO_GPU
        elif package and package not in installed:
            reason = f"{package} is not installed ({GPU_EXTRAS})"
        else:
            reason = model_problem
        planned.append(PlannedCheck(name, reason, use_vllm=name in (GRPO, VLLM_EVAL) and "vllm" in installed))
    return planned


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # PASS, FAIL or SKIPPED
    detail: str
    seconds: float | None = None

    def line(self) -> str:
        if self.status == "PASS":
            return f"PASS: {self.name} ({self.seconds:.1f} s, {self.detail})"
        return f"{self.status}: {self.name}: {self.detail}"


def exit_code(results: Sequence[CheckResult]) -> int:
    return 1 if any(r.status == "FAIL" for r in results) else 0


def installed_packages(names: Sequence[str] = OPTIONAL) -> set[str]:
    """The importable ones (found, not imported: vLLM's import takes seconds)."""
    return {n for n in names if importlib.util.find_spec(n) is not None}


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------------------------
# The machine

@dataclass(frozen=True)
class Machine:
    has_gpu: bool
    torch: str
    cuda: str
    gpu: str


def probe_machine() -> Machine:
    """torch, CUDA and the GPU; torch is the only import, and no other before this."""
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - a broken torch is as good as none here, and said so
        version = package_version("torch")
        what = "not installed" if version == "not installed" else f"{version}, fails to import: {e}"
        return Machine(False, what, "unknown (no torch)", "none")
    cuda = torch.version.cuda or "none (a CPU build of torch)"
    if not torch.cuda.is_available():
        return Machine(False, torch.__version__, cuda, "none")
    props = torch.cuda.get_device_properties(0)
    gpu = (f"{props.name} ({props.total_memory / 2**30:.0f} GB, compute capability {props.major}.{props.minor}, "
           f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}; {torch.cuda.device_count()} visible)")
    return Machine(True, torch.__version__, cuda, gpu)


def version_lines(machine: Machine) -> list[str]:
    lines = [f"python        {platform.python_version()} ({sys.executable})", f"torch         {machine.torch}",
             f"CUDA          {machine.cuda}", f"GPU           {machine.gpu}"]
    lines += [f"{name:<13} {package_version(name)}" for name in VERSIONED]
    missing = [m for m in SQLGRPO_NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        lines.append(f"missing       {', '.join(missing)} (sqlgrpo needs them: without them every check fails)")
    return lines


# --------------------------------------------------------------------------------------------
# The model, the tokenizer and the data

def export_tokenizer(dest: Path) -> Path:
    """The embedded model's tokenizer (with its chat template and pad token) written into `dest`."""
    from transformers import AutoTokenizer

    from sqlgrpo.llm.models import embedded_checkpoint_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_checkpoint_dir())
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(dest)
    # transformers 5 names the class TokenizersBackend, which 4.x (the GPU node may have it, for
    # vLLM's sake) does not know; PreTrainedTokenizerFast is the same class under a name both read.
    config_file = dest / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return dest


def embedded_tokenizer_dir() -> tuple[Path | None, str | None]:
    """(folder with the embedded model's tokenizer, None), or (None, why it is not on this machine)."""
    from sqlgrpo.llm.models import (ModelNotFoundError, embedded_checkpoint_dir, embedded_checkpoint_ready,
                                    embedded_gguf_path)

    if not embedded_checkpoint_ready():
        try:
            embedded_gguf_path()
        except ModelNotFoundError:
            return None, f"no tokenizer: the embedded model is not on this machine; {EXPORT_HINT}"
    try:
        return embedded_checkpoint_dir(), None  # converts it first when only the GGUF file is here (~25 s)
    except Exception as e:  # noqa: BLE001 - any failure to convert means: bring a tokenizer
        return None, f"no tokenizer: converting the embedded model failed ({e}); {EXPORT_HINT}"


def build_tiny_model(tokenizer_dir: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """A randomly initialised causal LM of TINY_MODEL's size with the tokenizer's vocabulary, saved
    with the tokenizer into `out_dir`: a checkpoint folder `load_model` accepts (config.json)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from sqlgrpo.llm.models import CHATML_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE  # the prompts are chat messages
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=True, **TINY_MODEL)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def prepare_data(out_dir: Path) -> Path:
    """A handful of the embedded sample's records, cleaned by the prepare stage (with test suites)."""
    from sqlgrpo.stages.prepare import PrepareOptions, prepare

    prepare(PrepareOptions(input="embedded", output_dir=str(out_dir), limit=SAMPLE_ROWS, eval_fraction=EVAL_FRACTION,
                           workers=1), progress=False)
    return out_dir


# --------------------------------------------------------------------------------------------
# The checks (run inside `run-one`; each returns its PASS detail or raises)

class CheckFailed(Exception):
    """The check ran but did not do what it should; the message says what."""


@dataclass(frozen=True)
class CheckArgs:
    model: str
    data: Path
    out: Path
    use_vllm: bool


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _train_stage(config: Path, a: CheckArgs, out: Path, **overrides):
    from sqlgrpo.stages.config import resolve

    values = dict(model=a.model, train_file=str(a.data / "cleaned_train_queries.jsonl"),
                  eval_file=str(a.data / "cleaned_eval_queries.jsonl"), prepare_input=None, output_dir=str(out),
                  max_steps=STEPS, per_device_train_batch_size=GENERATIONS, gradient_accumulation_steps=1,
                  num_generations=GENERATIONS, max_completion_length=COMPLETION_TOKENS, max_prompts=TRAIN_PROMPTS,
                  warmup_ratio=0.0, save_steps=100, report_to=["none"], log_completions=False, heldout_steps=0,
                  use_vllm=False, bf16=True)
    values.update(overrides)
    return resolve("train", config, values)


def _state(out: Path) -> dict:
    return json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))


def _peak_memory() -> str:
    import torch

    return f"peak torch memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GB"


def check_grpo(a: CheckArgs) -> str:
    from sqlgrpo.stages.train import train

    stage = _train_stage(GPU_CONFIG, a, a.out, use_vllm=a.use_vllm, vllm_mode="colocate",
                         vllm_gpu_memory_utilization=VLLM_MEMORY_SHARE, heldout_steps=STEPS,
                         heldout_samples=HELDOUT_SAMPLES)
    summary = train(stage)
    _expect(summary["steps"] == STEPS, f"ran {summary['steps']} steps, not {STEPS}")
    logged = set().union(*_state(a.out)["log_history"])
    _expect(any(k.startswith("rewards/") for k in logged), "trainer_state.json logs no rewards/* metric")
    _expect(any(k.startswith("heldout/") for k in logged), f"no heldout/* metric at step {STEPS}: the held-out "
                                                           "check did not run")
    how = f"with vLLM colocate (memory share {VLLM_MEMORY_SHARE})" if a.use_vllm else "without vLLM (not installed)"
    return f"{STEPS} steps in bf16 {how}, LoRA rank {stage.section.lora_r}, held-out check ran, {_peak_memory()}"


def check_qlora(a: CheckArgs) -> str:
    from sqlgrpo.stages.train import train

    summary = train(_train_stage(QLORA_CONFIG, a, a.out, load_in_4bit=True))
    _expect(summary["steps"] == STEPS, f"ran {summary['steps']} steps, not {STEPS}")
    _expect((a.out / "final_adapter" / "adapter_config.json").is_file(), "no final_adapter/ was saved")
    return f"{STEPS} steps, 4-bit NF4 base and bf16 LoRA adapter, no vLLM, {_peak_memory()}"


def make_adapter(model: str, out: Path) -> Path:
    """A fresh LoRA adapter as configs/gpu-7b.yaml describes it (rank 32, every projection), saved."""
    from peft import get_peft_model

    from sqlgrpo.llm.models import load_model
    from sqlgrpo.stages.config import resolve
    from sqlgrpo.stages.training import lora_config

    section = resolve("train", GPU_CONFIG).section
    base, tokenizer = load_model(model)
    peft_model = get_peft_model(base, lora_config(section))
    peft_model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def check_vllm_eval(a: CheckArgs) -> str:
    from sqlgrpo.stages.config import resolve
    from sqlgrpo.stages.eval import GENERATIONS_FILE, evaluate

    adapter = make_adapter(a.model, a.out / "adapter")
    rank = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))["r"]
    _expect(rank == LORA_RANK, f"the adapter has rank {rank}, not {LORA_RANK}")
    out = a.out / "eval"
    stage = resolve("eval", GPU_CONFIG, dict(model=a.model, adapter=str(adapter), output_dir=str(out),
                                             eval_file=str(a.data / "cleaned_eval_queries.jsonl"),
                                             limit=EVAL_QUESTIONS, batch_size=EVAL_QUESTIONS,
                                             max_new_tokens=COMPLETION_TOKENS, judge=False, use_vllm=True))
    metrics = evaluate(stage, progress=False)
    generated = (out / GENERATIONS_FILE).read_text(encoding="utf-8").splitlines()
    _expect(len(generated) >= 1, f"{GENERATIONS_FILE} is empty")
    return (f"{len(generated)} questions answered through vLLM with a rank-{rank} LoRA adapter, "
            f"{metrics['generation_seconds']} s generating")


def check_resume(a: CheckArgs) -> str:
    import gc

    import torch

    from sqlgrpo.stages.train import train

    first = train(_train_stage(GPU_CONFIG, a, a.out, save_steps=1))
    _expect(first["steps"] == STEPS, f"the first run ran {first['steps']} steps, not {STEPS}")
    gc.collect()  # the first run's model, before the second loads its own (a 7B passed as MODEL=...)
    torch.cuda.empty_cache()
    second = train(_train_stage(GPU_CONFIG, a, a.out, save_steps=1, max_steps=STEPS + 1, resume=True))
    expected = a.out / f"checkpoint-{STEPS}"
    _expect(second["resumed_from"] == str(expected), f"resumed from {second['resumed_from'] or 'nothing'}, "
                                                     f"not {expected}")
    step = _state(a.out)["global_step"]
    _expect(step == STEPS + 1, f"trainer_state.json says global_step {step}, not {STEPS + 1}")
    return f"resumed from checkpoint-{STEPS} and went on to step {step}"


CHECK_FUNCTIONS = {GRPO: check_grpo, QLORA: check_qlora, VLLM_EVAL: check_vllm_eval, RESUME: check_resume}


def run_one(name: str, a: CheckArgs, result_file: Path) -> int:
    """One check in this process: its result as JSON in `result_file`, the traceback in the log."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        detail, status = CHECK_FUNCTIONS[name](a), "PASS"
    except Exception as e:  # noqa: BLE001 - every failure is this check's FAIL line, never a crash of the run
        traceback.print_exc()
        status, detail = "FAIL", " ".join(f"{type(e).__name__}: {e}".split())[:LOG_TAIL_CHARS]
    result_file.write_text(json.dumps({"status": status, "detail": detail}), encoding="utf-8")
    return 0 if status == "PASS" else 1


# --------------------------------------------------------------------------------------------
# Running the checks, each in a subprocess

def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    # Air-gapped: no hub calls and their retries, no usage reports.
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "VLLM_NO_USAGE_STATS", "DO_NOT_TRACK"):
        env.setdefault(key, "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def _log_tail(log: Path) -> str:
    try:
        lines = [x for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1][-LOG_TAIL_CHARS:] if lines else ""


def run_check(name: str, args: Sequence[str], work: Path, timeout_s: float) -> CheckResult:
    """`gpu_check.py run-one NAME ARGS` in its own process group, killed (with vLLM's workers) at
    `timeout_s`; its log goes to work/NAME.log."""
    log, result_file = work / f"{name}.log", work / f"{name}.result.json"
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, str(SCRIPT), "run-one", name, *args, "--result", str(result_file)]
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            _kill_group(proc)  # also what it left behind on exit (vLLM's engine would hold GPU memory)
    seconds = time.monotonic() - start
    if returncode is None:
        return CheckResult(name, "FAIL", f"timed out after {timeout_s:g} s; last log line: {_log_tail(log)} "
                                         f"(log: {log})")
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return CheckResult(name, "FAIL", f"the check process exited with code {returncode} and no result; "
                                         f"last log line: {_log_tail(log)} (log: {log})")
    if result["status"] == "PASS":
        return CheckResult(name, "PASS", result["detail"], seconds)
    return CheckResult(name, "FAIL", f"{result['detail']} (log: {log})")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone when nothing of it is left
        os.killpg(proc.pid, signal.SIGKILL)  # the group we started: the check and vLLM's engine processes
    proc.wait(timeout=KILL_WAIT_S)


def model_for_checks(args: argparse.Namespace, work: Path) -> tuple[str | None, str | None]:
    """(checkpoint folder the checks train, None) or (None, why there is none)."""
    if args.model:
        return str(Path(args.model).resolve()), None
    tokenizer_dir, problem = (Path(args.tokenizer), None) if args.tokenizer else embedded_tokenizer_dir()
    if tokenizer_dir is None:
        return None, problem
    return str(build_tiny_model(tokenizer_dir, work / "tiny-model")), None


def run_all(args: argparse.Namespace) -> int:
    os.environ.update({k: v for k, v in child_env().items() if k not in os.environ})
    machine = probe_machine()
    for line in version_lines(machine):
        print(line, flush=True)
    if not machine.has_gpu:
        results = [CheckResult(p.name, "SKIPPED", p.skip_reason) for p in plan_checks(False, set())]
        for r in results:
            print(r.line(), flush=True)
        return exit_code(results)

    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="sqlgrpo-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    setup_error = None
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # this process prints the check lines only; the checks log to files
        hf_logging.disable_progress_bar()
        model, model_problem = model_for_checks(args, work)
        data = prepare_data(work / "data") if model else None
    except Exception as e:  # noqa: BLE001 - reported on every check's line below
        model, data, model_problem = None, None, None
        setup_error = " ".join(f"setting up the model and data failed: {type(e).__name__}: {e}".split())
    results = []
    for planned in plan_checks(True, installed_packages(), model_problem):
        left = args.budget - (time.monotonic() - started)
        if planned.skip_reason:
            result = CheckResult(planned.name, "SKIPPED", planned.skip_reason)
        elif setup_error:
            result = CheckResult(planned.name, "FAIL", setup_error)
        elif left <= 0:
            result = CheckResult(planned.name, "FAIL", f"not started: the run's budget of {args.budget:g} s was "
                                                       "spent (raise --budget)")
        else:
            run_args = ["--model", model, "--data", str(data), "--out", str(work / planned.name)]
            run_args += ["--use-vllm"] if planned.use_vllm else []
            result = run_check(planned.name, run_args, work, min(args.timeout, left))
        print(result.line(), flush=True)
        results.append(result)
    code = exit_code(results)
    if code or args.work_dir or args.keep:
        print(f"logs and outputs: {work}", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return code


def _folder(must_have: str | None):
    def check(value: str) -> str:
        path = Path(value)
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{value} is not a folder")
        if must_have and not (path / must_have).is_file():
            raise argparse.ArgumentTypeError(f"{value} has no {must_have}")
        return value
    return check


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--tokenizer", type=_folder("tokenizer_config.json"), metavar="DIR",
                        help="a tokenizer folder (from export-tokenizer) to build the tiny model around")
    source.add_argument("--model", type=_folder("config.json"), metavar="DIR",
                        help="a whole checkpoint folder to train instead of the tiny model")
    parser.add_argument("--timeout", type=float, default=CHECK_TIMEOUT_S, help="seconds one check may take")
    parser.add_argument("--budget", type=float, default=TOTAL_BUDGET_S, help="seconds all the checks may take")
    parser.add_argument("--work-dir", metavar="DIR", help="keep the model, data, logs and outputs here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder even when all pass")
    commands = parser.add_subparsers(dest="command")
    export = commands.add_parser("export-tokenizer", help="write the embedded model's tokenizer into DIR")
    export.add_argument("dest", metavar="DIR")
    one = commands.add_parser("run-one", help="run one check in this process (what the full run starts)")
    one.add_argument("name", choices=CHECKS)
    one.add_argument("--model", dest="one_model", required=True)
    one.add_argument("--data", required=True)
    one.add_argument("--out", required=True)
    one.add_argument("--result", required=True)
    one.add_argument("--use-vllm", action="store_true")
    args = parser.parse_args(argv)

    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))  # this project's sqlgrpo, not another installed copy
    if args.command == "export-tokenizer":
        dest = export_tokenizer(Path(args.dest))
        size = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
        print(f"wrote the embedded model's tokenizer to {dest} ({size / 1e6:.1f} MB); copy it to the GPU machine "
              f"and run: make gpu-check TOKENIZER={dest}")
        return 0
    if args.command == "run-one":
        return run_one(args.name, CheckArgs(args.one_model, Path(args.data), Path(args.out), args.use_vllm),
                       Path(args.result))
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
