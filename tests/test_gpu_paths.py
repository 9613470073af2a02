"""The GPU paths, checked where no GPU is needed: the combinations refused before loading, the
checkpoint formats `--resume` recognises, the LoRA rank given to vLLM, Unsloth's import order and
versions, the adapter dtype and checkpointing settings under ZeRO-3, the device a model is loaded
on, and the merge of a saved adapter.

CUDA is never faked beyond `torch.cuda.is_available`; DeepSpeed and FSDP are represented by what
sqlgrpo reads of them (TRL's config's `deepspeed_plugin`, accelerate's ACCELERATE_USE_FSDP).
Slow tests build a tiny randomly initialised Llama with the embedded model's tokenizer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from sqlgrpo.llm.vllm_generation import VLLM_LORA_RANKS, VllmSetupError, adapter_rank, max_lora_rank, vllm_engine_kwargs
from sqlgrpo.stages.config import resolve
from sqlgrpo.stages.train import TrainError, check_combinations, last_complete_checkpoint
from sqlgrpo.stages.training import (TrainingError, check_hardware, check_unsloth_versions, fsdp_enabled,
                                     keeps_adapter_dtype, pin_reentrant_checkpointing, unsloth_conflicts,
                                     weights_sharded)

REPO_ROOT = Path(__file__).resolve().parents[1]
QLORA_CONFIG = REPO_ROOT / "configs" / "gpu-7b-qlora.yaml"
BF16_CONFIG = REPO_ROOT / "configs" / "gpu-7b.yaml"
ZERO3 = SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=3))
ZERO2 = SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=2))
ONE_PROCESS = SimpleNamespace(deepspeed_plugin=None)


def _train(config: Path | None = None, **overrides):
    return resolve("train", config, overrides).section


@pytest.fixture
def no_fsdp(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)


@pytest.fixture
def under_fsdp(monkeypatch):
    # What `accelerate launch --config_file configs/accelerate/fsdp.yaml` sets in every process.
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")


# --- combinations refused before the model loads --------------------------------------------

def test_qlora_with_vllm_is_refused_naming_the_trl_issue(no_fsdp):
    # TRL pushes packed 4-bit weights to vLLM at its first sync (trl#4973): refuse, say why.
    with pytest.raises(TrainError, match=r"trl#4973"):
        check_combinations(_train(load_in_4bit=True, use_vllm=True), ONE_PROCESS)


def test_qlora_with_vllm_through_unsloth_is_not_refused(no_fsdp):
    # Unsloth syncs its own vLLM engine (not TRL's path), so the TRL bug does not apply.
    check_combinations(_train(load_in_4bit=True, use_vllm=True, use_unsloth=True), ONE_PROCESS)


def test_the_shipped_qlora_config_passes_the_combination_check(no_fsdp):
    # configs/gpu-7b-qlora.yaml must not ship a combination sqlgrpo refuses.
    check_combinations(_train(QLORA_CONFIG), ONE_PROCESS)


def test_vllm_under_fsdp_is_refused_and_points_to_zero3(under_fsdp):
    # TRL's FSDP1 sync sends base_model.model.* names vLLM does not have: ZeRO-3 is the route.
    with pytest.raises(TrainError, match=r"FSDP.*ZeRO-3"):
        check_combinations(_train(BF16_CONFIG), ONE_PROCESS)


def test_fsdp_without_vllm_is_accepted(under_fsdp):
    # FSDP itself trains; only the vLLM weight sync is broken there.
    check_combinations(_train(BF16_CONFIG, use_vllm=False), ONE_PROCESS)


def test_vllm_under_zero3_is_accepted(no_fsdp):
    # TRL strips the PEFT prefixes on its DeepSpeed path: LoRA + vLLM + ZeRO-3 is allowed.
    check_combinations(_train(BF16_CONFIG), ZERO3)


def test_unsloth_with_an_init_adapter_is_refused(no_fsdp):
    # Unsloth makes its own adapter and would silently drop the one asked for.
    with pytest.raises(TrainError, match=r"init_adapter with use_unsloth"):
        check_combinations(_train(use_unsloth=True, init_adapter="outputs/sft/final_adapter"), ONE_PROCESS)


def test_how_the_run_is_sharded_is_read_from_trl_config_and_accelerate(monkeypatch):
    # ZeRO-3 from the DeepSpeed plugin TrainingArguments built; FSDP from accelerate's variable.
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    assert (weights_sharded(ZERO3), weights_sharded(ZERO2), weights_sharded(ONE_PROCESS)) == (True, False, False)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert fsdp_enabled(ONE_PROCESS) and weights_sharded(ONE_PROCESS)


# --- ZeRO-3 settings -------------------------------------------------------------------------

def test_adapter_dtype_is_kept_only_under_zero3_without_quantization():
    # fp32 LoRA beside a bf16 base breaks ZeRO-3's all-gather; QLoRA's adapters are cast by TRL.
    assert keeps_adapter_dtype(ZERO3, quantized=False)
    assert not keeps_adapter_dtype(ZERO3, quantized=True)
    assert not keeps_adapter_dtype(ZERO2, quantized=False)
    assert not keeps_adapter_dtype(ONE_PROCESS, quantized=False)


def _grpo_args(tmp_path, **kwargs):
    from trl import GRPOConfig

    return GRPOConfig(output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=2, num_generations=2,
                      report_to="none", **kwargs)


def test_reentrant_checkpointing_lands_where_the_trainer_reads_it(tmp_path):
    # transformers 5.24's Trainer reads activation_checkpointing_kwargs; TRL writes the old name
    # after the config is built. Under ZeRO-3 both names must hold use_reentrant=True, in one dict.
    args = _grpo_args(tmp_path, activation_checkpointing=True)
    args.deepspeed_plugin = SimpleNamespace(zero_stage=3)
    pin_reentrant_checkpointing(args)
    assert args.activation_checkpointing_kwargs == {"use_reentrant": True}
    assert args.gradient_checkpointing_kwargs is args.activation_checkpointing_kwargs
    (args.gradient_checkpointing_kwargs or {})["use_reentrant"] = True  # what TRL's trainer does next
    assert args.activation_checkpointing_kwargs["use_reentrant"] is True


def test_reentrant_checkpointing_is_left_alone_without_zero3(tmp_path):
    # Outside ZeRO-3 transformers' default (non-reentrant) is the right one: nothing is set.
    args = _grpo_args(tmp_path, activation_checkpointing=True)
    pin_reentrant_checkpointing(args)
    assert not args.activation_checkpointing_kwargs


# --- the checkpoint formats --resume recognises ----------------------------------------------

def _state(folder: Path, step: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}), encoding="utf-8")
    return folder


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")


def _deepspeed_checkpoint(out: Path, step: int, *, latest: str | None = "tag") -> Path:
    """What DeepSpeed's engine.save_checkpoint leaves: states under global_stepN, `latest` last."""
    folder = _state(out / f"checkpoint-{step}", step)
    tag = f"global_step{step}"
    _touch(folder, f"{tag}/mp_rank_00_model_states.pt", f"{tag}/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt")
    if latest is not None:
        (folder / "latest").write_text(tag if latest == "tag" else latest, encoding="utf-8")
    return folder


def test_a_deepspeed_checkpoint_is_resumed_from(tmp_path):
    # No optimizer.pt or scheduler.pt under DeepSpeed: global_stepN/ holds them.
    _deepspeed_checkpoint(tmp_path, 2)
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"


def test_a_deepspeed_checkpoint_without_latest_is_incomplete(tmp_path):
    # `latest` is written after every state file: without it the save was cut.
    _deepspeed_checkpoint(tmp_path, 2)
    _deepspeed_checkpoint(tmp_path, 3, latest=None)
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"


def test_a_deepspeed_latest_naming_a_missing_folder_is_incomplete(tmp_path):
    # A tag pointing nowhere (or outside the checkpoint) is not a checkpoint to resume.
    _deepspeed_checkpoint(tmp_path, 3, latest="global_step9")
    _deepspeed_checkpoint(tmp_path, 4, latest="../checkpoint-3/global_step3")
    assert last_complete_checkpoint(tmp_path) is None


def test_a_deepspeed_checkpoint_without_optimizer_states_is_incomplete(tmp_path):
    # Each rank writes its optimizer shard; none there means the save did not get that far.
    folder = _deepspeed_checkpoint(tmp_path, 2)
    for shard in folder.glob("global_step2/*optim_states.pt"):
        shard.unlink()
    assert last_complete_checkpoint(tmp_path) is None


@pytest.mark.parametrize("optimizer, weights", [("optimizer.bin", "pytorch_model_fsdp.bin"),
                                                ("optimizer.bin", "adapter_model.safetensors"),
                                                ("optimizer_0/.metadata", "pytorch_model_fsdp_0/.metadata")])
def test_an_fsdp_checkpoint_is_resumed_from(tmp_path, optimizer, weights):
    # FULL_STATE_DICT writes optimizer.bin; SHARDED_STATE_DICT writes optimizer_0/ and model folders.
    folder = _state(tmp_path / "checkpoint-5", 5)
    _touch(folder, optimizer, weights, "scheduler.pt")
    assert last_complete_checkpoint(tmp_path) == folder


def test_an_fsdp_checkpoint_without_its_scheduler_is_incomplete(tmp_path):
    # FSDP checkpoints carry scheduler.pt like plain ones; a cut save may not have written it yet.
    folder = _state(tmp_path / "checkpoint-5", 5)
    _touch(folder, "optimizer.bin", "pytorch_model_fsdp.bin")
    assert last_complete_checkpoint(tmp_path) is None


# --- the LoRA rank vLLM is given -------------------------------------------------------------

def _adapter_config(folder: Path, r: int, rank_pattern: dict | None = None) -> Path:
    from peft import LoraConfig

    LoraConfig(r=r, lora_alpha=r, target_modules=["q_proj"], rank_pattern=rank_pattern or {}).save_pretrained(folder)
    return folder


def test_a_rank_32_adapter_gets_a_max_lora_rank_that_holds_it(tmp_path):
    # vLLM's default max_lora_rank is 16 and rejects a rank-32 adapter: 32 must be passed.
    kwargs = vllm_engine_kwargs("base", _adapter_config(tmp_path, 32), max_model_len=1024)
    assert (kwargs["enable_lora"], kwargs["max_lora_rank"]) == (True, 32)


def test_a_rank_between_vllm_values_rounds_up(tmp_path):
    # vLLM accepts only its listed ranks: 24 is served with 32, never 16.
    assert adapter_rank(_adapter_config(tmp_path, 24)) == 24
    assert max_lora_rank(24) == 32
    assert all(max_lora_rank(r) in VLLM_LORA_RANKS and max_lora_rank(r) >= r for r in range(1, 513))


def test_a_larger_rank_in_rank_pattern_counts(tmp_path):
    # PEFT lets layers have their own rank; vLLM must hold the largest.
    assert adapter_rank(_adapter_config(tmp_path, 8, rank_pattern={"q_proj": 64})) == 64


def test_a_rank_above_vllm_maximum_is_refused_with_the_way_out():
    # 1024 cannot be served as a LoRA: the message says to merge it.
    with pytest.raises(VllmSetupError, match=r"merge"):
        max_lora_rank(1024)


def test_without_an_adapter_lora_is_off_and_the_context_is_capped():
    # No LoRA slot is reserved for nothing, and the KV cache is sized for the run, not 32k.
    assert vllm_engine_kwargs("base", None, max_model_len=1536) == {"model": "base", "max_model_len": 1536}


def test_an_adapter_folder_without_config_is_named(tmp_path):
    with pytest.raises(VllmSetupError, match=r"adapter_config.json"):
        adapter_rank(tmp_path)


# --- Unsloth ---------------------------------------------------------------------------------

def _fake_distribution(root: Path, name: str, version: str, requires: list[str]) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_unsloth_requirements_that_the_installed_packages_break_are_named(tmp_path, monkeypatch):
    # An Unsloth that caps trl below the installed 1.16 must be reported by package and version;
    # an optional extra's requirement and a satisfied one are not.
    _fake_distribution(tmp_path, "unsloth", "2099.1.1",
                       ["trl<=1.15.0", "torch>=2.0", 'transformers<5.18; extra == "legacy"'])
    monkeypatch.syspath_prepend(str(tmp_path))
    conflicts = unsloth_conflicts(("unsloth",))
    assert len(conflicts) == 1 and conflicts[0].startswith("trl 1.16.0 is installed; unsloth 2099.1.1 needs trl<=1.15.0")
    with pytest.raises(TrainingError, match=r"trl 1.16.0 is installed.*own environment"):
        check_unsloth_versions()


def test_no_unsloth_means_no_conflict():
    # Not installed here: nothing to compare (check_hardware reports the missing package).
    assert unsloth_conflicts(("unsloth-not-installed-here",)) == []


def test_missing_unsloth_names_its_own_environment():
    # pip install '.[gpu]' unsloth backtracks to an Unsloth that cannot import: say what works.
    import importlib.util

    if importlib.util.find_spec("unsloth") is not None:
        pytest.skip("unsloth is installed here")
    with pytest.raises(TrainingError, match=r"--use-unsloth .*unsloth.*--no-deps"):
        check_hardware(_train(use_unsloth=True), has_gpu=True)


def test_unsloth_is_imported_before_trl(tmp_path):
    # Unsloth patches TRL's trainers as it is imported; a fake unsloth reports what was already
    # imported at that moment, and train() must reach it before importing trl or transformers.
    fake = tmp_path / "unsloth"
    fake.mkdir()
    (fake / "__init__.py").write_text(textwrap.dedent("""
        import sys
        raise RuntimeError("early: " + ",".join(m for m in ("trl", "transformers", "peft") if m in sys.modules))
    """), encoding="utf-8")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from sqlgrpo.stages import train as t, training
        from sqlgrpo.stages.config import resolve
        training.check_hardware = lambda *a, **k: None   # no GPU here
        t.check_unsloth_versions = lambda *a, **k: None  # no real unsloth here
        try:
            t.train(resolve("train", None, {{"use_unsloth": True, "output_dir": {str(tmp_path / 'out')!r}}}))
        except RuntimeError as e:
            print(e)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert done.stdout.strip() == "early:", done.stdout + done.stderr


# --- device and merge ------------------------------------------------------------------------

def test_generation_goes_on_the_gpu_when_there_is_one(monkeypatch):
    # eval and ask load for inference: on CUDA when available; training and 4-bit are placed by others.
    import torch

    from sqlgrpo.llm.models import inference_device_map

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert inference_device_map(for_training=False, quantized=False) == "cuda"
    assert inference_device_map(for_training=True, quantized=False) is None
    assert inference_device_map(for_training=False, quantized=True) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert inference_device_map(for_training=False, quantized=False) is None


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """The random 2-layer Llama `make gpu-check` trains, with the embedded model's tokenizer."""
    from conftest import load_gpu_check

    from sqlgrpo.llm.models import embedded_checkpoint_dir

    return load_gpu_check().build_tiny_model(embedded_checkpoint_dir(), tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model, tmp_path_factory) -> Path:
    """A rank-32 LoRA on the tiny model with non-zero B, so that merging changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("tiny-adapter")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=32, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    model.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_an_adapter_loads_in_the_base_dtype_when_asked(tiny_model, tiny_adapter):
    # PEFT's default puts LoRA weights in fp32 beside a bf16 base; autocast_adapter_dtype=False
    # keeps them bf16, as ZeRO-3 needs.
    import torch

    from sqlgrpo.llm.models import load_model

    def lora_dtypes(**kwargs) -> set:
        model, _ = load_model(str(tiny_model), adapter=tiny_adapter, dtype="bfloat16", for_training=True, **kwargs)
        return {p.dtype for n, p in model.named_parameters() if "lora_" in n}

    assert lora_dtypes() == {torch.float32}
    assert lora_dtypes(autocast_adapter_dtype=False) == {torch.bfloat16}


@pytest.mark.slow
def test_merge_adapter_saves_a_plain_model_that_answers_as_base_plus_adapter(tiny_model, tiny_adapter, tmp_path):
    # The merge is made from the saved adapter on a fresh base: the result has no LoRA layer
    # and gives the same logits as the base with the adapter applied.
    import torch

    from sqlgrpo.llm.models import load_model
    from sqlgrpo.stages.training import merge_adapter

    merged_dir = merge_adapter(str(tiny_model), tiny_adapter, tmp_path / "merged")
    merged, tokenizer = load_model(str(merged_dir))
    with_adapter, _ = load_model(str(tiny_model), adapter=tiny_adapter)
    base, _ = load_model(str(tiny_model))
    ids = tokenizer("SELECT COUNT(*) FROM pets", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        got, want, before = (m(ids).logits for m in (merged, with_adapter, base))
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    assert torch.allclose(got, want, atol=1e-4)
    assert not torch.allclose(got, before, atol=1e-3)  # the adapter really changed something


@pytest.mark.slow
def test_a_rank_32_adapter_saved_by_peft_is_read_for_vllm(tiny_adapter):
    # The rank comes from the adapter_config.json PEFT wrote, as `sqlgrpo eval --use-vllm` reads it.
    assert vllm_engine_kwargs(".", tiny_adapter, max_model_len=512)["max_lora_rank"] == 32
