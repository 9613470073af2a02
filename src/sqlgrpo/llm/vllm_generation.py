"""Generation through vLLM (GPU only): the eval stage's `--use-vllm`.

    generate_batch = vllm_generator("Qwen/Qwen2.5-Coder-7B-Instruct", "outputs/train/final_adapter",
                                    num_samples=1, max_new_tokens=256, temperature=0.7, top_p=0.95,
                                    max_model_len=1024)
    generate_batch(records)  # [{"outputs": [...], "tokens": [...], "latency_s": [...]}, ...]

The base model is given to vLLM by what `from_pretrained` reads (`embedded` is its converted
checkpoint folder), the adapter as a LoRA request. vLLM refuses an adapter whose rank exceeds
its `max_lora_rank` (16 by default), so the rank is read from the adapter's own
`adapter_config.json` and the smallest rank vLLM accepts above it is passed. The engine's context
is capped at the run's `max_seq_length`, so vLLM does not reserve KV cache for the model's full
context. What can be checked without a GPU (the engine's arguments) is in `vllm_engine_kwargs`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.llm.models import ADAPTER_CONFIG_NAME

# The values vLLM's LoRAConfig accepts for max_lora_rank (vllm/config/lora.py, MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
LORA_ID = 1  # vLLM's LoRARequest needs a positive integer id, unique per adapter in the engine


class VllmSetupError(SqlgrpoError, ValueError):
    """The adapter or settings cannot be served by vLLM; the message says what to change."""


def adapter_rank(adapter_dir: str | Path) -> int:
    """The largest LoRA rank of a PEFT adapter folder: `r`, or a larger one in `rank_pattern`."""
    path = Path(adapter_dir) / ADAPTER_CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise VllmSetupError(f"cannot read the LoRA rank from {path} ({e}); pass the folder a training "
                             "stage saved its adapter to") from None
    ranks = [config.get("r")] + list((config.get("rank_pattern") or {}).values())
    ranks = [r for r in ranks if isinstance(r, int) and not isinstance(r, bool) and r > 0]
    if not ranks:
        raise VllmSetupError(f"{path} has no positive integer LoRA rank 'r'; is it a LoRA adapter?")
    return max(ranks)


def max_lora_rank(rank: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that holds an adapter of rank `rank`."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise VllmSetupError(f"LoRA rank {rank} is above the largest vLLM serves ({VLLM_LORA_RANKS[-1]}); merge the "
                         "adapter into the model (sqlgrpo train --merge-final) and evaluate the merged folder")


def vllm_engine_kwargs(model_source: str, adapter: str | Path | None, *, max_model_len: int) -> dict[str, Any]:
    """The keyword arguments of `vllm.LLM` for a base model and an optional adapter."""
    kwargs: dict[str, Any] = dict(model=model_source, max_model_len=max_model_len)
    if adapter is not None:
        kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank(adapter_rank(adapter)), max_loras=1)
    return kwargs


def vllm_generator(model_source: str, adapter: str | Path | None, *, num_samples: int, max_new_tokens: int,
                   temperature: float, top_p: float, max_model_len: int) -> Callable[[list[dict]], list[dict]]:
    """A batch generator over records with a chat `prompt`: greedy for one sample, sampled for
    several, the adapter (if any) applied as a LoRA request."""
    from vllm import LLM, SamplingParams  # GPU only; the eval stage checks for a GPU and vllm first
    from vllm.lora.request import LoRARequest

    llm = LLM(**vllm_engine_kwargs(model_source, adapter, max_model_len=max_model_len))
    sampling = num_samples > 1
    params = SamplingParams(n=num_samples, max_tokens=max_new_tokens, temperature=temperature if sampling else 0.0,
                            top_p=top_p if sampling else 1.0)
    lora = LoRARequest("adapter", LORA_ID, str(adapter)) if adapter is not None else None

    def generate_batch(batch: list[dict]) -> list[dict]:
        start = time.perf_counter()
        outs = llm.chat([r["prompt"] for r in batch], params, lora_request=lora, use_tqdm=False)
        per = (time.perf_counter() - start) / max(len(batch) * num_samples, 1)
        return [{"outputs": [c.text for c in o.outputs], "tokens": [len(c.token_ids) for c in o.outputs],
                 "latency_s": [round(per, 4)] * len(o.outputs)} for o in outs]

    return generate_batch
