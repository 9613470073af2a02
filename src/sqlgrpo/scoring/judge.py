"""An LLM judge for text-to-SQL answers, through any OpenAI-compatible endpoint.

What the judge is asked and how its answer is read (the rubric, `SCORE_FIELDS`, `parse_verdict`)
is in `sqlgrpo.scoring.judge_rubric`; this module sends the requests. The judge complements the
execution metrics of the `eval` stage; it never replaces them.

    from sqlgrpo.scoring.judge import Judge
    judge = Judge("gpt-4o-mini", cache_dir="outputs/eval/judge_cache")          # OPENAI_API_KEY
    judge = Judge("my-model", "http://127.0.0.1:8000/v1", cache_dir="judge_cache")  # local server
    verdicts = judge.judge_many([{"id": 1, "question": ..., "context": ..., "gold": ...,
                                  "output": ...}])

Retries are ours, not the client's: HTTP 429, 5xx, timeouts, connection errors and answers that
`parse_verdict` cannot read are retried with exponential backoff and jitter; other 4xx are not
(the classification and the backoff are `sqlgrpo.common.openai_retry`, shared with served
generation).
A sample without a readable verdict after `max_attempts` gets `ok=False` and the reason, never a
score. Readable verdicts are cached on disk, one JSON file each, so a rerun sends no request for
them; failed ones are not cached, so a rerun asks again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import fields
from pathlib import Path
from typing import Any

import openai
from tqdm.auto import tqdm

from sqlgrpo.common.files import write_json
from sqlgrpo.common.openai_retry import (TRANSPORT_ERRORS, Retry, api_key_or_placeholder, backoff_s, status_retry,
                                         status_text, transport_retry, usage_tokens)
from sqlgrpo.scoring.judge_rubric import (RUBRIC_VERSION, SCORE_FIELDS, JudgeVerdict, build_judge_messages, output_text,
                                          parse_verdict, score_value)

logger = logging.getLogger(__name__)

DEFAULT_JUDGE_MODEL = "gpt-4o-mini"
NO_JUDGE_REASON = "no OPENAI_API_KEY and no --judge-base-url: judge skipped"
REQUIRED_SAMPLE_KEYS = ("id", "question", "context", "gold", "output")
# FastAPI-based servers reject an unknown field with 422, most others with 400.
RESPONSE_FORMAT_REJECTION_STATUS = frozenset({400, 422})
# How much of an unreadable answer goes into the error message: enough to see what went wrong.
ERROR_SNIPPET_CHARS = 200
CACHE_SUFFIX = ".json"

# ------------------------------------------------------------------------------------------
# Configuration


def judge_configuration(model: str | None, base_url: str | None, api_key: str | None = None) -> tuple[bool, str]:
    """Whether a judge can be used, and why: it needs an API key (argument or OPENAI_API_KEY)
    or a base URL of a local server (which gets a placeholder key)."""
    model = model or DEFAULT_JUDGE_MODEL
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key and not base_url:
        return False, NO_JUDGE_REASON
    where = base_url or "the OpenAI API"
    note = "" if key else " (no API key: using a placeholder, local servers ignore it)"
    return True, f"judge {model} at {where}{note}"



# ------------------------------------------------------------------------------------------
# The client


class _GiveUp(Exception):
    """A failure that another attempt would repeat (a 4xx other than 408/429)."""


class Judge:
    """Judges samples through an OpenAI-compatible chat completions endpoint, with retries, a
    concurrency limit and a disk cache of readable verdicts. Safe to call from several threads.

    `requests_sent` counts HTTP requests actually sent (cached verdicts send none); `usage` sums
    the responses' prompt and completion tokens.
    """

    def __init__(
        self,
        model: str | None = DEFAULT_JUDGE_MODEL,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        cache_dir: str | Path,
        concurrency: int = 4,
        max_attempts: int = 5,
        timeout_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        temperature: float = 0.0,
        max_tokens: int = 512,
    ):
        for name, value, low in (("concurrency", concurrency, 1), ("max_attempts", max_attempts, 1),
                                 ("max_tokens", max_tokens, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"Judge {name}={value!r}: must be an integer >= {low}")
        for name, value in (("timeout_s", timeout_s), ("backoff_base_s", backoff_base_s),
                            ("backoff_max_s", backoff_max_s)):
            if not value >= 0 or (name == "timeout_s" and value == 0):
                raise ValueError(f"Judge {name}={value!r}: must be a positive number of seconds")
        key = api_key_or_placeholder(api_key, base_url)
        if key is None:
            raise ValueError(f"Judge: {NO_JUDGE_REASON}; set OPENAI_API_KEY or pass base_url")
        self.model = model or DEFAULT_JUDGE_MODEL
        self.base_url = base_url
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.timeout_s = float(timeout_s)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.temperature = temperature
        self.max_tokens = max_tokens
        # max_retries=0: the client's own retries would hide attempts from our counters and
        # would not retry unreadable answers; ours do both.
        self._client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=self.timeout_s)
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        # Flipped off for good once the server rejects response_format: every later request
        # would be rejected the same way.
        self._send_response_format = True

    # -- public ------------------------------------------------------------------------------

    def judge(self, sample: dict) -> JudgeVerdict:
        """One sample's verdict (keys: id, question, context, gold, output), from the cache when
        a readable one is there."""
        _check_sample(sample)
        path = self._cache_path(sample)
        cached = self._read_cache(path)
        if cached is not None:
            return cached
        verdict = self._ask(sample)
        if verdict.ok:
            self._write_cache(path, verdict)
        else:
            logger.warning("Judge gave no readable verdict for sample %r: %s", sample["id"], verdict.error)
        return verdict

    def judge_many(self, samples: list[dict], progress: bool = True) -> list[JudgeVerdict]:
        """Verdicts for `samples` in their order, at most `concurrency` requests in flight."""
        for sample in samples:  # a malformed sample fails the call before any request is sent
            _check_sample(sample)
        verdicts: list[JudgeVerdict | None] = [None] * len(samples)
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="judge") as pool, \
                tqdm(total=len(samples), desc=f"judge {self.model}", unit="sample", disable=not progress) as bar:
            futures = {pool.submit(self.judge, sample): i for i, sample in enumerate(samples)}
            for future in as_completed(futures):
                verdicts[futures[future]] = future.result()
                bar.update(1)
        return verdicts  # type: ignore[return-value]

    # -- asking --------------------------------------------------------------------------------

    def _ask(self, sample: dict) -> JudgeVerdict:
        messages = build_judge_messages(sample)
        attempts = failures = 0
        prompt_tokens = completion_tokens = 0
        last_error = ""
        while failures < self.max_attempts:
            attempts += 1
            send_format = self._send_response_format
            try:
                text, usage = self._request(messages, send_format)
                prompt_tokens += usage[0]
                completion_tokens += usage[1]
                parsed = parse_verdict(text)
                if parsed is None:
                    snippet = text[:ERROR_SNIPPET_CHARS].replace("\n", " ")
                    raise Retry(f"unreadable verdict (no JSON with all five scores in 1-5): {snippet!r}")
                return JudgeVerdict(ok=True, **parsed, attempts=attempts, prompt_tokens=prompt_tokens,
                                    completion_tokens=completion_tokens)
            except _GiveUp as error:
                return JudgeVerdict(ok=False, error=str(error), attempts=attempts,
                                    prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            except openai.APIStatusError as error:
                if send_format and _rejects_response_format(error):
                    # Not the sample's fault and not counted against its attempts: many local
                    # servers do not support JSON mode; the prompt alone asks for JSON.
                    logger.warning("Judge server rejected response_format (%s); sending requests without it",
                                   status_text(error))
                    self._send_response_format = False
                    last_error = status_text(error)
                    continue
                retry = status_retry(error, self.backoff_max_s)
                if retry is None:
                    return JudgeVerdict(ok=False, error=f"not retried: {status_text(error)}", attempts=attempts,
                                        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
                failures += 1
                last_error = retry.reason
                wait_s = retry.wait_s
            except Retry as retry:
                failures += 1
                last_error = retry.reason
                wait_s = retry.wait_s
            if failures < self.max_attempts:
                wait_s = self._backoff_s(failures) if wait_s is None else wait_s
                logger.info("Judge attempt %d for sample %r failed (%s); retrying in %.2f s",
                            attempts, sample["id"], last_error, wait_s)
                time.sleep(wait_s)
        return JudgeVerdict(ok=False, error=f"no readable verdict after {attempts} attempts; last: {last_error}",
                            attempts=attempts, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    def _request(self, messages: list[dict], send_format: bool) -> tuple[str, tuple[int, int]]:
        """One HTTP request: the answer's text and its (prompt, completion) token counts.
        Raises Retry for timeouts, connection errors and malformed responses."""
        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if send_format else {}
        with self._lock:
            self.requests_sent += 1
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=self.temperature,
                max_tokens=self.max_tokens, **extra,
            )
        except TRANSPORT_ERRORS as error:
            raise transport_retry(error, self.timeout_s) from error
        usage = usage_tokens(response)
        with self._lock:
            self.usage["prompt_tokens"] += usage[0]
            self.usage["completion_tokens"] += usage[1]
        try:
            text = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as error:
            raise Retry("malformed response: no choices[0].message") from error
        if not isinstance(text, str):
            raise Retry("malformed response: the message has no text content")
        return text, usage

    def _backoff_s(self, failures: int) -> float:
        return backoff_s(failures, self.backoff_base_s, self.backoff_max_s)

    # -- cache ---------------------------------------------------------------------------------

    def _cache_path(self, sample: dict) -> Path:
        key_material = json.dumps([str(sample["id"]), output_text(sample["output"]), self.model, RUBRIC_VERSION],
                                  ensure_ascii=False)
        return self.cache_dir / (hashlib.sha256(key_material.encode("utf-8")).hexdigest() + CACHE_SUFFIX)

    def _read_cache(self, path: Path) -> JudgeVerdict | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("Ignoring unreadable judge cache file %s (%s); judging again", path, error)
            return None
        known = {f.name for f in fields(JudgeVerdict)}
        if not isinstance(data, dict) or data.get("ok") is not True or not all(
                score_value(data.get(name)) is not None for name in SCORE_FIELDS):
            logger.warning("Ignoring judge cache file %s without a readable verdict; judging again", path)
            return None
        try:
            verdict = JudgeVerdict(**{k: v for k, v in data.items() if k in known})
        except TypeError as error:
            logger.warning("Ignoring judge cache file %s (%s); judging again", path, error)
            return None
        verdict.cached = True
        return verdict

    def _write_cache(self, path: Path, verdict: JudgeVerdict) -> None:
        data = verdict.to_dict()
        data["cached"] = False
        # atomic: a reader (another worker, or a rerun after a crash) never sees half a file
        write_json(path, data, indent=1)


def _check_sample(sample: Any) -> None:
    if not isinstance(sample, dict):
        raise TypeError(f"judge sample must be a dict with keys {', '.join(REQUIRED_SAMPLE_KEYS)}; "
                        f"got {type(sample).__name__}")
    missing = [k for k in REQUIRED_SAMPLE_KEYS if k not in sample]
    if missing:
        raise ValueError(f"judge sample {sample.get('id', '<no id>')!r} lacks {', '.join(missing)}; "
                         f"each sample needs {', '.join(REQUIRED_SAMPLE_KEYS)}")


def _rejects_response_format(error: openai.APIStatusError) -> bool:
    if error.status_code not in RESPONSE_FORMAT_REJECTION_STATUS:
        return False
    body = error.body if isinstance(error.body, str) else json.dumps(error.body, default=str)
    return "response_format" in f"{error.message} {body}"
