"""Which failures of an OpenAI-compatible endpoint are worth another attempt, and how long to wait.

Shared by the two clients of such endpoints: the LLM judge (`sqlgrpo.scoring.judge`) and served
generation (`sqlgrpo.llm.served`). Each runs its own attempt loop (the judge also retries answers
it cannot read); this module only classifies an `openai` exception and times the next attempt.

    try:
        response = client.chat.completions.create(...)
    except TRANSPORT_ERRORS as error:
        retry = transport_retry(error, timeout_s)         # always worth another try
    except openai.APIStatusError as error:
        retry = status_retry(error, backoff_max_s)        # None: another try would fail the same way
    time.sleep(retry.wait_s if retry.wait_s is not None else backoff_s(failures, base_s, max_s))

Retriable: HTTP 408 and 429 ("later"), 5xx ("something broke on the server"), timeouts,
connection errors and response bodies that are not a completion. Every other 4xx (bad request,
bad key, unknown model) fails the same way however often it is sent.
"""

from __future__ import annotations

import math
import os
import random
from typing import Any

import openai

# Local servers (vLLM, SGLang, llama.cpp, Ollama, transformers serve) accept any key, but the
# openai client refuses to start without one.
PLACEHOLDER_API_KEY = "sk-no-key-needed"
RETRIABLE_STATUS = frozenset({408, 429})
FIRST_SERVER_ERROR_STATUS = 500
# Jitter draws each wait from [JITTER_FLOOR, 1] times the backoff, so that workers hit by the same
# 429 storm do not come back in lockstep, while still waiting at least half the backoff.
JITTER_FLOOR = 0.5
# Failures that happen before or instead of an HTTP status: all transient. APITimeoutError is a
# subclass of APIConnectionError; ValueError is a 200 whose body is not JSON at all.
TRANSPORT_ERRORS = (openai.APITimeoutError, openai.APIConnectionError, openai.APIResponseValidationError, ValueError)


class Retry(Exception):
    """One failed attempt worth another: `reason` says why, `wait_s` (from Retry-After, already
    capped) overrides the backoff when set."""

    def __init__(self, reason: str, wait_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s


def api_key_or_placeholder(api_key: str | None, base_url: str | None) -> str | None:
    """The key to send: `api_key`, else OPENAI_API_KEY, else a placeholder when a base URL (a
    local server) is given; None when there is neither key nor URL (the OpenAI API needs a key)."""
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    return PLACEHOLDER_API_KEY if base_url else None


def status_text(error: openai.APIStatusError) -> str:
    return f"HTTP {error.status_code}: {error.message}"


def status_retry(error: openai.APIStatusError, max_wait_s: float) -> Retry | None:
    """A Retry for a status worth retrying (honouring Retry-After, capped at `max_wait_s` so that
    a server asking for an hour does not stall the run for an hour), else None."""
    status = error.status_code
    if status not in RETRIABLE_STATUS and status < FIRST_SERVER_ERROR_STATUS:
        return None
    wait_s = retry_after_s(error.response.headers) if error.response is not None else None
    if wait_s is not None:
        wait_s = min(wait_s, max_wait_s)
    return Retry(status_text(error), wait_s)


def transport_retry(error: BaseException, timeout_s: float) -> Retry:
    """The Retry for one of `TRANSPORT_ERRORS`, its reason in words for the log."""
    if isinstance(error, openai.APITimeoutError):
        return Retry(f"timed out after {timeout_s:g} s")
    if isinstance(error, openai.APIResponseValidationError):
        return Retry(f"malformed response body (HTTP {error.status_code})")
    if isinstance(error, openai.APIConnectionError):
        return Retry(f"connection error: {error.__cause__ or error}")
    return Retry(f"malformed response body: {error}")


def usage_tokens(response: Any) -> tuple[int, int]:
    """(prompt, completion) tokens of a response's usage; 0 where the server gives none."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return 0, 0
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)


def backoff_s(failures: int, base_s: float, max_s: float) -> float:
    """The wait after the `failures`-th failure: base_s doubled per failure, capped at max_s,
    with jitter."""
    backoff = min(max_s, base_s * 2 ** (failures - 1))
    return backoff * random.uniform(JITTER_FLOOR, 1.0)


def retry_after_s(headers: Any) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms) header given as a number; None otherwise
    (an HTTP-date is rare from these servers, and the backoff is a fine answer to it)."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None
