"""tools/gpu_check.py (`make gpu-check`): what it does on a machine without a GPU (this one), the
check plan, one check's subprocess failing or timing out, the tokenizer export and the tiny model
the GPU run trains (built and run on the CPU here: the same code the GPU run uses).

The GPU checks themselves cannot run here; the slow tests use the embedded model's tokenizer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import GPU_CHECK_TOOL, load_gpu_check

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL = GPU_CHECK_TOOL
RUN_TIMEOUT_S = 120  # a guard, not a measurement: without a GPU the run imports torch and stops
CHECK_TIMEOUT_S = 300  # one real check subprocess (importing TRL) on a busy 2-core box


gpu_check = load_gpu_check()
no_gpu_here = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": "src", "HF_HUB_OFFLINE": "1"}


def _run(*args: str, python: tuple[str, ...] = (sys.executable,)) -> subprocess.CompletedProcess:
    """What `make gpu-check` runs (PYTHONPATH=src python tools/gpu_check.py ...), from the project root."""
    return subprocess.run([*python, str(TOOL), *args], cwd=REPO_ROOT, env=_env(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def _check_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("PASS: ", "FAIL: ", "SKIPPED: "))]


# --- the run on a machine without a GPU ----------------------------------------------------

@pytest.fixture(scope="module")
def no_gpu_run() -> subprocess.CompletedProcess:
    return _run()


@no_gpu_here
def test_without_a_gpu_the_run_exits_0(no_gpu_run):
    # Nothing failed, nothing could run: a CPU machine is not an error (CI may call it anywhere).
    assert no_gpu_run.returncode == 0, no_gpu_run.stderr[-2000:]


@no_gpu_here
def test_without_a_gpu_each_check_is_one_skipped_line_with_the_reason(no_gpu_run):
    # One line per check, in order, and nothing else starting with PASS/FAIL/SKIPPED.
    assert _check_lines(no_gpu_run.stdout) == [f"SKIPPED: {name}: no CUDA GPU on this machine"
                                               for name in gpu_check.CHECKS]


@no_gpu_here
def test_the_versions_come_first(no_gpu_run):
    # torch's real version and each package's line, all before the first check line.
    lines = no_gpu_run.stdout.splitlines()
    header = lines[:lines.index(_check_lines(no_gpu_run.stdout)[0])]
    names = [line.split()[0] for line in header]
    assert names[:4] == ["python", "torch", "CUDA", "GPU"] and names[4:11] == list(gpu_check.VERSIONED)
    assert header[1].split()[1] == torch.__version__


@no_gpu_here
def test_without_a_gpu_nothing_heavier_than_torch_is_imported():
    # What keeps it to seconds: the CUDA test comes before transformers, TRL, PEFT or sqlgrpo.
    heavy = ("transformers", "trl", "peft", "sqlgrpo", "vllm")
    code = (f"import runpy, sys; sys.argv = [{str(TOOL)!r}]\n"
            f"try:\n    runpy.run_path({str(TOOL)!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            f"print('IMPORTED', sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=_env(), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert "IMPORTED []" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


def test_without_torch_every_check_is_skipped():
    # `python -S` leaves site-packages off sys.path: a real interpreter with no torch (or anything else).
    probe = subprocess.run([sys.executable, "-S", "-c", "import torch"], capture_output=True, timeout=RUN_TIMEOUT_S)
    if probe.returncode == 0:
        pytest.skip("torch is importable even without site-packages here")
    done = _run(python=(sys.executable, "-S"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch         not installed" in done.stdout
    assert _check_lines(done.stdout) == [f"SKIPPED: {name}: no CUDA GPU on this machine" for name in gpu_check.CHECKS]


def test_a_model_folder_without_config_json_is_refused_before_anything_runs(tmp_path):
    # A wrong MODEL=DIR is a usage error naming the folder, not four FAIL lines after minutes.
    done = _run("--model", str(tmp_path))
    assert done.returncode == 2 and f"{tmp_path} has no config.json" in done.stderr


# --- the check plan ------------------------------------------------------------------------

ALL_PACKAGES = {"vllm", "bitsandbytes"}


def _plan(*args, **kwargs) -> dict[str, object]:
    return {p.name: p for p in gpu_check.plan_checks(*args, **kwargs)}


def test_plan_without_a_gpu_skips_everything_even_with_every_package():
    # The GPU is the first condition: packages and a model do not matter without one.
    assert {p.skip_reason for p in _plan(False, ALL_PACKAGES).values()} == {"no CUDA GPU on this machine"}


def test_plan_with_a_gpu_and_no_extras_trains_without_vllm():
    # GRPO and resume need no optional package; GRPO then generates through transformers.
    plan = _plan(True, set())
    assert plan["grpo-bf16"].skip_reason is None and plan["grpo-bf16"].use_vllm is False
    assert plan["resume"].skip_reason is None


@pytest.mark.parametrize("check, package", [("qlora-4bit", "bitsandbytes"), ("vllm-eval-lora-r32", "vllm")])
def test_plan_skips_a_check_whose_package_is_missing_and_names_it(check, package):
    # The other package is there: only the missing one decides.
    plan = _plan(True, ALL_PACKAGES - {package})
    assert plan[check].skip_reason.startswith(f"{package} is not installed")


def test_plan_with_every_package_runs_everything_and_vllm_where_it_belongs():
    # vLLM for the GRPO rollouts and the eval; QLoRA and resume run without it (brief: no vLLM there).
    plan = _plan(True, ALL_PACKAGES)
    assert all(p.skip_reason is None for p in plan.values())
    assert {name for name, p in plan.items() if p.use_vllm} == {"grpo-bf16", "vllm-eval-lora-r32"}


def test_plan_without_a_model_skips_every_check_with_the_reason():
    # Every check trains or generates; the reason (how to export a tokenizer) is passed through.
    plan = _plan(True, ALL_PACKAGES, "no tokenizer: run export-tokenizer")
    assert {p.skip_reason for p in plan.values()} == {"no tokenizer: run export-tokenizer"}


@pytest.mark.parametrize("statuses, code", [
    (["PASS", "SKIPPED", "PASS"], 0),   # skipped is not a failure
    (["PASS", "FAIL", "SKIPPED"], 1),   # one failure is enough
    ([], 0),                            # nothing ran, nothing failed
])
def test_exit_code_is_1_exactly_when_a_check_failed(statuses, code):
    assert gpu_check.exit_code([gpu_check.CheckResult("c", s, "d") for s in statuses]) == code


def test_a_pass_line_carries_seconds_and_detail():
    assert gpu_check.CheckResult("resume", "PASS", "resumed", 12.345).line() == "PASS: resume (12.3 s, resumed)"


# --- one check's subprocess ----------------------------------------------------------------

@no_gpu_here
def test_a_check_that_raises_is_one_fail_line_with_its_error(tmp_path):
    # A real run-one subprocess: the train stage refuses 4-bit without a GPU, before the (dummy)
    # model and data are read; the exception becomes the line's reason, with the log's path.
    result = gpu_check.run_check("qlora-4bit", ["--model", str(tmp_path), "--data", str(tmp_path), "--out",
                                                str(tmp_path / "out")], tmp_path, CHECK_TIMEOUT_S)
    assert result.line().startswith("FAIL: qlora-4bit: TrainError: --load-in-4bit (4-bit QLoRA) needs a CUDA GPU")
    assert str(tmp_path / "qlora-4bit.log") in result.detail


def test_a_check_over_its_time_limit_is_killed_and_fails(tmp_path):
    # Half a second is less than importing torch takes: the limit must fire, not the check finish.
    result = gpu_check.run_check("resume", ["--model", str(tmp_path), "--data", str(tmp_path), "--out",
                                            str(tmp_path / "out")], tmp_path, 0.5)
    assert result.status == "FAIL" and result.detail.startswith("timed out after 0.5 s")


# --- slow: the tokenizer export and the tiny model (the embedded model's tokenizer) --------

@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("gpu-check") / "tokenizer"
    done = _run("export-tokenizer", str(dest))
    assert done.returncode == 0, done.stderr[-2000:]
    return dest


@pytest.fixture(scope="module")
def embedded_tokenizer():
    from transformers import AutoTokenizer

    from sqlgrpo.llm.models import embedded_checkpoint_dir

    return AutoTokenizer.from_pretrained(embedded_checkpoint_dir())


@pytest.mark.slow
def test_exported_tokenizer_encodes_like_the_embedded_one(exported, embedded_tokenizer):
    # Same vocabulary and the same ids for a prompt-like text: the tiny model's vocab matches it.
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(exported)
    text = "<|im_start|>user\nSELECT COUNT(*) FROM pets;<|im_end|>"
    assert len(loaded) == len(embedded_tokenizer) and loaded(text).input_ids == embedded_tokenizer(text).input_ids


@pytest.mark.slow
def test_exported_tokenizer_keeps_chat_template_and_pad_token(exported, embedded_tokenizer):
    # The prompts are chat messages and batches are padded: both must travel with the folder.
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(exported)
    assert loaded.chat_template == embedded_tokenizer.chat_template and loaded.pad_token is not None


@pytest.mark.slow
def test_exported_tokenizer_is_a_few_mb_without_weights(exported):
    # It is copied to an air-gapped node: the tokenizer files only, not the 538 MB model.
    files = [p for p in exported.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 10e6
    assert not [p.name for p in files if p.suffix in (".safetensors", ".bin", ".gguf")]


@pytest.mark.slow
def test_exported_tokenizer_names_a_class_transformers_4_knows(exported):
    # transformers 5 writes TokenizersBackend, unknown to the 4.x a GPU node may keep for vLLM.
    config = json.loads((exported / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"


@pytest.fixture(scope="module")
def tiny(exported, tmp_path_factory):
    """The tiny model the GPU run builds, from the exported tokenizer, loaded by sqlgrpo."""
    from sqlgrpo.llm.models import load_model

    folder = gpu_check.build_tiny_model(exported, tmp_path_factory.mktemp("gpu-check") / "tiny")
    model, tokenizer = load_model(str(folder))
    return folder, model, tokenizer


@pytest.mark.slow
def test_tiny_model_has_the_tokenizers_vocabulary(tiny):
    # vocab = len(tokenizer): no token id the tokenizer makes can fall outside the embeddings.
    _, model, tokenizer = tiny
    assert model.config.vocab_size == len(tokenizer) and model.get_input_embeddings().num_embeddings == len(tokenizer)


@pytest.mark.slow
def test_tiny_model_is_tiny(tiny):
    # 2 layers and under 10M parameters (mostly the 49k x 128 embeddings): each step takes seconds.
    _, model, _ = tiny
    assert model.config.num_hidden_layers == 2 and sum(p.numel() for p in model.parameters()) < 10_000_000


@pytest.mark.slow
def test_tiny_model_generates_from_a_chat_prompt_on_cpu(tiny):
    # The chat template saved with it renders a prompt, and generate() adds exactly 4 tokens.
    _, model, tokenizer = tiny
    text = tokenizer.apply_chat_template([{"role": "user", "content": "How many pets?"}], add_generation_prompt=True,
                                         tokenize=False)
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=4, min_new_tokens=4, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] == enc["input_ids"].shape[1] + 4


@pytest.mark.slow
def test_tiny_model_folder_is_a_checkpoint_with_its_tokenizer(tiny):
    # What vLLM and load_model read from the folder: config.json, the weights and the tokenizer.
    folder, _, _ = tiny
    assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= {p.name for p in folder.iterdir()}
