"""Batched generation with transformers: chat prompts in, answer texts out.

Used by the held-out check during training and by evaluation. Left padding, so that every
prompt of a batch ends where generation starts; greedy unless sampling settings are given.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Generation:
    text: str
    new_tokens: int
    seconds: float  # the batch's wall time divided among its prompts


def can_merge_adapter(model: Any) -> bool:
    """Whether `model` is a PEFT LoRA model whose adapter can be merged into its weights and taken
    out again exactly enough (not 4-bit or 8-bit: a merge there rounds into the quantized weights)."""
    quantized = getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)
    return callable(getattr(model, "merge_adapter", None)) and callable(getattr(model, "unmerge_adapter", None)) \
        and not quantized


@contextlib.contextmanager
def merged_adapter(model: Any) -> Iterator[Any]:
    """The LoRA adapter merged into the weights for the block, taken out again after it (also on
    an error): generation then runs the plain layers instead of each layer plus its two low-rank
    matrices, measured 1.35x faster on 2 CPU cores for the embedded model at rank 16, with the same
    greedy answers. A model that cannot be merged (`can_merge_adapter`) is used as it is."""
    if not can_merge_adapter(model):
        yield model
        return
    with torch.no_grad():  # the merge writes into the weights' data: nothing for autograd to track
        model.merge_adapter()
    try:
        yield model
    finally:
        with torch.no_grad():
            model.unmerge_adapter()


@contextlib.contextmanager
def bf16_weights(model: Any) -> Iterator[Any]:
    """The model's floating-point parameters held in bfloat16 for the block and given back their own
    tensors after it (also on an error), bit for bit: for generation on a CPU with bf16 instructions
    (AVX512_BF16/AMX), where decoding reads every weight once per token and bf16 halves what it reads,
    measured 58 -> 45 s for 16 x 160 new tokens of the embedded model on 2 cores (autocast over fp32
    weights casts them again at every token and gains nothing). Buffers (rotary frequencies) stay as
    they are; the model computes in bf16 as it would loaded in bf16. Costs a bf16 copy of the weights
    while it lasts. Tied weights are one parameter: cast once, restored once."""
    kept: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for param in model.parameters():
                if param.is_floating_point() and param.dtype != torch.bfloat16:
                    kept.append((param, param.data))
                    param.data = param.data.to(torch.bfloat16)
        yield model
    finally:
        for param, data in kept:
            param.data = data


def generate_answers(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]], *, max_new_tokens: int,
                     batch_size: int = 8, do_sample: bool = False, temperature: float = 1.0,
                     top_p: float = 1.0, num_return_sequences: int = 1) -> list[list[Generation]]:
    """For each chat prompt, `num_return_sequences` generations (greedy by default)."""
    results: list[list[Generation]] = []
    saved_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only: pad before the prompt, not between it and the answer
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start:start + batch_size]
            texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in batch]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            began = time.perf_counter()
            kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                                      "num_return_sequences": num_return_sequences}
            if do_sample:
                kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                out = model.generate(**enc, **kwargs)
            seconds = (time.perf_counter() - began) / (len(batch) * num_return_sequences)
            new = out[:, enc["input_ids"].shape[1]:]
            for i in range(len(batch)):
                row = []
                for k in range(num_return_sequences):
                    ids = new[i * num_return_sequences + k]
                    count = int((ids != tokenizer.pad_token_id).sum())
                    row.append(Generation(tokenizer.decode(ids, skip_special_tokens=True), count, seconds))
                results.append(row)
    finally:
        tokenizer.padding_side = saved_side
        model.train(was_training)
    return results
