"""Generation through a running OpenAI-compatible server: chat prompts in, answer texts out.

`sqlgrpo eval --generation-base-url URL --generation-model NAME` uses it instead of loading the
model: the server (vLLM's `vllm serve --enable-lora`, SGLang, `transformers serve`, llama.cpp's
server) runs the model, and an adapter is one of the names it serves (vLLM: `--lora-modules
NAME=PATH`, then `--generation-model NAME`).

    generator = ServedGenerator("http://127.0.0.1:8000/v1", "sql-lora", num_samples=4, max_tokens=256)
    entries = generator.generate_batch(records)  # records with their chat `prompt`, as eval builds them

Each question is one `/v1/chat/completions` request (not streamed), at most `concurrency` in
flight: greedy (temperature 0) for one sample, else `n` samples at the given temperature and
top_p; a server that returns fewer choices than asked (llama.cpp and `transformers serve` ignore
`n`) gets further requests for the rest. HTTP 5xx, 429 and 408, timeouts, connection errors and
malformed bodies are retried with exponential backoff and jitter (`sqlgrpo.common.openai_retry`,
shared with the judge); other 4xx are not, another try would fail the same way.

A question never silently loses its answer: one still failing after `max_attempts` (or refused
with a 4xx) stops the batch with a `ServedGenerationError` naming the question, the server and
the cause. The batches before it are already saved by `sqlgrpo.stages.eval.generate_all`, so
`--resume` continues from there once the server is fixed; the failing batch is generated again.
Scoring an unanswered question as a wrong answer instead would fake a 0.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import openai

from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.openai_retry import (TRANSPORT_ERRORS, Retry, api_key_or_placeholder, backoff_s, status_retry,
                                         status_text, transport_retry, usage_tokens)

log = logging.getLogger(__name__)

# Without a usage block, a rough token count: about four characters per token in English text and
# SQL (OpenAI's rule of thumb); only the tokens/answer statistic reads it.
CHARS_PER_TOKEN = 4
# What to fix for the refusals a generation server gives; the server's own message comes first.
REFUSAL_HINTS = {
    401: "check the key: --generation-api-key or OPENAI_API_KEY (a local server takes any key)",
    403: "check the key: --generation-api-key or OPENAI_API_KEY (a local server takes any key)",
    404: "check that --generation-base-url ends in /v1 and that --generation-model is a name the server serves "
         "(GET <base-url>/models lists them; for an adapter, the NAME of vLLM's --lora-modules NAME=PATH)",
}
DEFAULT_REFUSAL_HINT = ("the server rejected the request; when the prompt is longer than the served model's context, "
                        "pass --model with that model's tokenizer (a local folder or a cached hub id) so that prompts "
                        "over --max-seq-length are dropped, or lower --max-new-tokens")


class ServedGenerationError(SqlgrpoError, RuntimeError):
    """A question the generation server did not answer, or settings it cannot run with; the
    message names the question, the server and what to change."""


class _Stopped(Exception):
    """Another question of the batch failed for good: this one sends no further request."""


def split_tokens(total: int, texts: list[str]) -> list[int]:
    """The completion tokens of one response (its usage counts its choices together) shared
    among the choices in proportion to their length, summing to `total`.

    >>> split_tokens(10, ["aaa", "a"])
    [8, 2]
    """
    weights = [len(t) for t in texts] if any(texts) else [1] * len(texts)
    shares = [total * w / sum(weights) for w in weights]
    counts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(texts)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return counts


def rough_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class ServedGenerator:
    """Answers eval questions through an OpenAI-compatible chat completions endpoint, with
    retries and a concurrency limit. `generate_batch` has the contract of
    `sqlgrpo.stages.eval.generate_all`'s generator: one `{"outputs", "tokens", "latency_s"}`
    entry per record, in order. `requests_sent` counts HTTP requests actually sent."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, num_samples: int = 1,
                 temperature: float = 0.7, top_p: float = 0.95, max_tokens: int = 256, concurrency: int = 8,
                 max_attempts: int = 5, timeout_s: float = 300.0, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 30.0):
        if not base_url or not model:
            raise ServedGenerationError("served generation needs both --generation-base-url (e.g. "
                                        "http://127.0.0.1:8000/v1) and --generation-model (a name the server serves)")
        for name, value in (("num_samples", num_samples), ("max_tokens", max_tokens), ("concurrency", concurrency),
                            ("max_attempts", max_attempts)):
            if not isinstance(value, int) or value < 1:
                raise ServedGenerationError(f"served generation: {name}={value!r} must be an integer >= 1 (flag "
                                            f"{_flag(name)})")
        for name, value in (("timeout_s", timeout_s), ("backoff_base_s", backoff_base_s),
                            ("backoff_max_s", backoff_max_s)):
            if not value >= 0 or (name == "timeout_s" and value == 0):
                raise ServedGenerationError(f"served generation: {name}={value!r} must be a positive number of "
                                            "seconds")
        self.base_url, self.model = base_url, model
        self.num_samples, self.max_tokens = num_samples, max_tokens
        self.temperature, self.top_p = temperature, top_p
        self.concurrency, self.max_attempts = concurrency, max_attempts
        self.timeout_s, self.backoff_base_s, self.backoff_max_s = float(timeout_s), backoff_base_s, backoff_max_s
        # max_retries=0: the client's own retries would hide attempts from our counters.
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key_or_placeholder(api_key, base_url),
                                     max_retries=0, timeout=self.timeout_s)
        self._lock = threading.Lock()
        self.requests_sent = 0

    def generate_batch(self, batch: list[dict]) -> list[dict]:
        """One entry per record of `batch` (keys `id`, `prompt`), at most `concurrency` requests
        in flight. Raises ServedGenerationError for the first question that cannot be answered;
        the others of the batch then send no further request."""
        entries: list[dict | None] = [None] * len(batch)
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(batch))), thread_name_prefix="served")
        try:
            futures = {pool.submit(self.answer, r["prompt"], str(r["id"]), stop): i for i, r in enumerate(batch)}
            for future in as_completed(futures):
                entries[futures[future]] = future.result()
        except BaseException:
            stop.set()  # workers in a backoff wake up and stop; requests on the wire finish
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return entries  # type: ignore[return-value]

    def answer(self, messages: list[dict], question_id: str, stop: threading.Event | None = None) -> dict:
        """`num_samples` answers to one chat prompt: as many requests as the server needs to
        return that many choices."""
        stop = stop or threading.Event()
        outputs: list[str] = []
        tokens: list[int] = []
        latency: list[float] = []
        while len(outputs) < self.num_samples:
            missing = self.num_samples - len(outputs)
            texts, completion_tokens, seconds = self._attempts(messages, missing, question_id, stop)
            counts = split_tokens(completion_tokens, texts) if completion_tokens else [rough_tokens(t) for t in texts]
            outputs += texts[:missing]  # a server answering more choices than asked: the first ones
            tokens += counts[:missing]
            # the request's wall time divided among its choices, as the local generators divide a batch's
            latency += [round(seconds / len(texts), 4)] * len(texts[:missing])
        return {"outputs": outputs, "tokens": tokens, "latency_s": latency}

    # -- one request, with retries --------------------------------------------------------------

    def _attempts(self, messages: list[dict], n: int, question_id: str,
                  stop: threading.Event) -> tuple[list[str], int, float]:
        failures = 0
        while True:
            if stop.is_set():
                raise _Stopped
            try:
                return self._request(messages, n)
            except openai.APIStatusError as error:
                retry = status_retry(error, self.backoff_max_s)
                if retry is None:
                    hint = REFUSAL_HINTS.get(error.status_code, DEFAULT_REFUSAL_HINT)
                    raise ServedGenerationError(
                        f"generation server {self.base_url} refused question {question_id!r} for model "
                        f"{self.model!r} ({status_text(error)}; not retried, it would fail the same way): {hint}"
                    ) from None
            except Retry as error:
                retry = error
            failures += 1
            if failures >= self.max_attempts:
                raise ServedGenerationError(
                    f"question {question_id!r} got no answer from {self.base_url} (model {self.model!r}) after "
                    f"{failures} attempts (--generation-max-attempts); last: {retry.reason}"
                )
            wait_s = backoff_s(failures, self.backoff_base_s, self.backoff_max_s) if retry.wait_s is None \
                else retry.wait_s
            log.info("question %r: attempt %d at %s failed (%s); retrying in %.2f s", question_id, failures,
                     self.base_url, retry.reason, wait_s)
            if stop.wait(wait_s):
                raise _Stopped

    def _request(self, messages: list[dict], n: int) -> tuple[list[str], int, float]:
        """One HTTP request: the choices' texts, the usage's completion tokens (0 when not given)
        and the seconds it took. Raises Retry for what is worth another attempt."""
        if self.num_samples > 1:
            sampling: dict[str, Any] = {"n": n, "temperature": self.temperature, "top_p": self.top_p}
        else:
            sampling = {"temperature": 0.0}  # greedy; `n` left out, some servers refuse the field
        with self._lock:
            self.requests_sent += 1
        start = time.perf_counter()
        try:
            response = self._client.chat.completions.create(model=self.model, messages=messages,
                                                            max_tokens=self.max_tokens, **sampling)
        except TRANSPORT_ERRORS as error:
            raise transport_retry(error, self.timeout_s) from error
        seconds = time.perf_counter() - start
        try:
            texts = [choice.message.content for choice in response.choices]
        except (AttributeError, TypeError) as error:
            raise Retry("malformed response: a choice without a message") from error
        if not texts:
            raise Retry("malformed response: no choices")
        if not all(t is None or isinstance(t, str) for t in texts):
            raise Retry("malformed response: a message whose content is not text")
        # None: a message without text (all of it spent on reasoning or a tool call): an empty
        # answer, scored as one, not a failure to retry.
        return [t or "" for t in texts], usage_tokens(response)[1], seconds


def served_prompt_records(records: list[dict], tokenizer_names: list[str], max_prompt_tokens: int, *,
                          template: str | None = None, backend: str = "sqlite",
                          include_inserts: bool = False) -> tuple[list[dict], int, str | None]:
    """Records with their chat `prompt`, as `prompt_records` builds them (over-budget prompts
    dropped), with the tokenizer of the first of `tokenizer_names` found locally: `embedded`, a
    checkpoint folder, or a hub id in the hub cache, never the network. With none, every prompt
    is kept unchecked (and a database file's schema unshortened): the server refuses one too long
    for its context. Returns (kept, dropped, the name whose tokenizer counted, or None)."""
    from sqlgrpo.llm.models import load_tokenizer
    from sqlgrpo.llm.prompts import build_messages, prompt_records

    reasons = []
    for name in dict.fromkeys(tokenizer_names):  # in order, each once
        try:
            tokenizer = load_tokenizer(name, local_files_only=True)
        except (OSError, ValueError) as error:  # ModelNotFoundError is an OSError, ModelError a ValueError
            reasons.append(f"{name}: {str(error).splitlines()[0]}")
            continue
        if tokenizer.chat_template is None:
            reasons.append(f"{name}: its tokenizer has no chat template")
            continue
        log.info("prompts length-checked with the tokenizer of %s (budget %d tokens)", name, max_prompt_tokens)
        kept, dropped = prompt_records(records, tokenizer, max_prompt_tokens, template=template, backend=backend,
                                       include_inserts=include_inserts)
        return kept, dropped, name
    log.warning("prompts are not length-checked (no local tokenizer: %s); none is dropped. Pass --model with the "
                "served model's folder or cached hub id to drop prompts over %d tokens", "; ".join(reasons) or "none "
                "named", max_prompt_tokens)
    kept = [{**r, "prompt": build_messages(r, template=template, backend=backend, include_inserts=include_inserts)}
            for r in records]
    return kept, 0, None


def _flag(name: str) -> str:
    return {"num_samples": "--num-samples", "max_tokens": "--max-new-tokens"}.get(
        name, "--generation-" + name.replace("_", "-"))
