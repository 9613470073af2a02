"""The LLM judge: reading verdicts, and the client against real HTTP servers on loopback.

The fast tests start a scripted OpenAI-compatible server (http.server in a thread, in
conftest.py) whose every request gets the reply a test chose: rate limits, server errors, slow
answers, garbage. The slow test talks to `transformers serve` running the embedded model (the
`transformers_server` fixture of conftest.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Reply, ScriptedServer

from sqlgrpo.scoring.judge import (
    DEFAULT_JUDGE_MODEL,
    NO_JUDGE_REASON,
    Judge,
    JudgeVerdict,
    judge_configuration,
    parse_verdict,
)

GOOD = {"sql_score": 4, "reasoning_score": 3, "format_score": 5, "educational_score": 4,
        "overall_score": 4.0, "explanation": "Correct filter, terse reasoning.", "error_type": "none"}
# Tiny waits so retry tests take milliseconds; the logic is the same at 1 s.
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5.0}


def sample(i: int = 0, output: str = "<reasoning>count rows</reasoning>\n<sql>SELECT COUNT(*) FROM pets;</sql>"):
    return {"id": f"s{i}", "question": f"question {i}: how many pets?", "context": "CREATE TABLE pets (id INT);",
            "gold": "SELECT COUNT(*) FROM pets;", "output": output}


# ------------------------------------------------------------------------------------------
# parse_verdict


@pytest.mark.parametrize("text", [
    # The plain case: the JSON object alone.
    json.dumps(GOOD),
    # Fenced, as chat models like to answer.
    f"```json\n{json.dumps(GOOD)}\n```",
    # Prose before and after, with a stray brace in the prose that is not the verdict.
    f"Here is my grading {{of the answer}}:\n{json.dumps(GOOD)}\nHope this helps!",
])
def test_parse_verdict_finds_the_json_wherever_it_sits(text):
    # Every wrapping a judge model commonly adds around the object still yields the same verdict.
    assert parse_verdict(text) == {**GOOD, "overall_score": 4.0}


def test_parse_verdict_accepts_keys_in_any_case_with_spaces_or_hyphens():
    # "SQL Score" and "overall-score" name the same fields as sql_score and overall_score.
    text = json.dumps({"SQL Score": 2, "Reasoning-Score": 3, "FORMAT_SCORE": 4, "educational score": 5,
                       "overall-score": 3, "Explanation": "x", "Error Type": "wrong filter"})
    verdict = parse_verdict(text)
    assert (verdict["sql_score"], verdict["reasoning_score"], verdict["format_score"],
            verdict["educational_score"], verdict["overall_score"]) == (2, 3, 4, 5, 3.0)
    assert verdict["error_type"] == "wrong filter"


def test_parse_verdict_keeps_a_fractional_overall_score():
    # overall_score may be any number in 1..5; it is not rounded.
    assert parse_verdict(json.dumps({**GOOD, "overall_score": 3.75}))["overall_score"] == 3.75


def test_parse_verdict_reads_numeric_strings_and_out_of_five():
    # "4" and "4/5" are the same score; "2.0" is a whole number written as a float.
    verdict = parse_verdict(json.dumps({**GOOD, "sql_score": "4", "reasoning_score": "4/5",
                                        "format_score": 2.0, "overall_score": "3.5"}))
    assert (verdict["sql_score"], verdict["reasoning_score"], verdict["format_score"],
            verdict["overall_score"]) == (4, 4, 2, 3.5)
    assert all(isinstance(verdict[k], int) for k in ("sql_score", "reasoning_score", "format_score"))


def test_parse_verdict_ignores_extra_keys():
    # A judge that adds its own fields still gave the five scores we need.
    verdict = parse_verdict(json.dumps({**GOOD, "confidence": 0.9, "notes": ["a", "b"]}))
    assert verdict is not None and set(verdict) == set(GOOD)


@pytest.mark.parametrize("text", [
    # A required score is missing: averaging the others would invent it.
    json.dumps({k: v for k, v in GOOD.items() if k != "educational_score"}),
    # 0 and 7 are outside the 1-5 rubric: the judge did not follow it, and clamping would invent a score.
    json.dumps({**GOOD, "sql_score": 0}),
    json.dumps({**GOOD, "overall_score": 7}),
    # Another scale: 8/10 is not 8, and converting it would be a guess.
    json.dumps({**GOOD, "sql_score": "8/10"}),
    # true is an int in Python but no score.
    json.dumps({**GOOD, "format_score": True}),
    # Not JSON at all, an empty answer, and a JSON value that is not an object.
    "not json at all",
    "",
    "   \n",
    "[4, 3, 5, 4, 4]",
])
def test_parse_verdict_rejects_what_is_not_a_complete_verdict(text):
    assert parse_verdict(text) is None


# ------------------------------------------------------------------------------------------
# A scripted OpenAI-compatible server


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    """The scripted server of conftest.py, answering a good verdict unless a test says otherwise."""
    scripted_server.responder = lambda i, body: Reply(content=json.dumps(GOOD))
    return scripted_server


def scripted(*replies: Reply) -> Callable[[int, dict], Reply]:
    """A responder giving `replies` in order, then good verdicts."""
    return lambda i, body: replies[i] if i < len(replies) else Reply(content=json.dumps(GOOD))


def make_judge(server: ScriptedServer, cache_dir: Path, **kwargs) -> Judge:
    return Judge("test-judge", server.base_url, cache_dir=cache_dir, **{**FAST, **kwargs})


# ------------------------------------------------------------------------------------------
# Retries


def test_one_sample_survives_every_kind_of_transient_failure(server, tmp_path):
    # 429, 500, a reply slower than the client timeout and an unreadable answer are each worth
    # one more try; the fifth request's good verdict is the one returned.
    server.responder = scripted(
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(status=500),
        Reply(content=json.dumps(GOOD), delay_s=2.0),
        Reply(content="not json at all"),
    )
    judge = make_judge(server, tmp_path, timeout_s=0.5, max_attempts=5)
    verdict = judge.judge(sample())
    assert verdict.ok and verdict.sql_score == GOOD["sql_score"]
    assert verdict.attempts == 5
    assert judge.requests_sent == 5


def test_a_sample_that_never_gets_a_readable_verdict_fails_after_max_attempts(server, tmp_path):
    # Garbage every time: after max_attempts the verdict says why and carries no score.
    server.responder = lambda i, body: Reply(content="not json at all")
    verdict = make_judge(server, tmp_path, max_attempts=3).judge(sample())
    assert not verdict.ok
    assert verdict.attempts == 3 and len(server.bodies) == 3
    assert "unreadable verdict" in verdict.error and "not json at all" in verdict.error
    assert verdict.sql_score is None and verdict.overall_score is None


def test_a_failed_verdict_is_not_cached(server, tmp_path):
    # A rerun on the same cache asks again: a failure may have been the server's bad moment.
    server.responder = lambda i, body: Reply(content="not json at all")
    make_judge(server, tmp_path, max_attempts=2).judge(sample())
    assert not list(tmp_path.glob("*.json"))
    rerun = make_judge(server, tmp_path, max_attempts=2)
    assert not rerun.judge(sample()).ok
    assert rerun.requests_sent == 2


def test_an_unauthorized_request_is_not_retried(server, tmp_path):
    # 401 (a bad key) would fail the same way every time: one request, a failed verdict.
    server.responder = lambda i, body: Reply(status=401)
    judge = make_judge(server, tmp_path, max_attempts=5)
    verdict = judge.judge(sample())
    assert not verdict.ok and "401" in verdict.error
    assert judge.requests_sent == 1 and verdict.attempts == 1


@pytest.mark.timeout(60)  # without the cap this test would sleep an hour; fail it in a minute
def test_retry_after_is_capped_by_backoff_max(server, tmp_path):
    # A server asking for an hour's wait must not stall the evaluation for an hour: the wait is
    # capped at backoff_max_s (0.05 s here), so the retry comes well within the bound below.
    server.responder = scripted(Reply(status=429, headers={"Retry-After": "3600"}))
    start = time.monotonic()
    verdict = make_judge(server, tmp_path).judge(sample())
    assert verdict.ok and verdict.attempts == 2
    assert time.monotonic() - start < 5.0


def test_a_response_body_that_is_not_json_is_retried(server, tmp_path):
    # A proxy's HTML error page with status 200 is a broken reply, not a verdict: try again.
    server.responder = scripted(Reply(body=b"<html>bad gateway</html>"))
    judge = make_judge(server, tmp_path)
    verdict = judge.judge(sample())
    assert verdict.ok and verdict.attempts == 2 and judge.requests_sent == 2


def test_every_sample_gets_its_own_verdict_when_every_second_request_fails(server, tmp_path):
    # Half the requests fail: each sample's first try gets a 500 and its second a verdict scored
    # from its own question number (counted per sample, so which worker sends what is irrelevant).
    # A sample left without a verdict, or a verdict landing on the wrong sample, would show.
    tries: dict[int, int] = {}

    def responder(i, body):
        n = int(re.search(r"question (\d+):", body["messages"][1]["content"]).group(1))
        with server.lock:
            tries[n] = tries.get(n, 0) + 1
        if tries[n] % 2 == 1:
            return Reply(status=500)
        return Reply(content=json.dumps({**GOOD, "sql_score": n % 5 + 1}))

    server.responder = responder
    judge = make_judge(server, tmp_path, concurrency=3)
    verdicts = judge.judge_many([sample(i) for i in range(10)], progress=False)
    assert all(v.ok and v.attempts == 2 for v in verdicts)
    assert [v.sql_score for v in verdicts] == [i % 5 + 1 for i in range(10)]
    assert judge.requests_sent == 20


# ------------------------------------------------------------------------------------------
# Cache


def test_a_second_run_on_the_same_cache_sends_no_request(server, tmp_path):
    # Readable verdicts are on disk after the first run; the second reads them all.
    samples = [sample(i) for i in range(10)]
    first = make_judge(server, tmp_path).judge_many(samples, progress=False)
    second_judge = make_judge(server, tmp_path)
    second = second_judge.judge_many(samples, progress=False)
    assert second_judge.requests_sent == 0
    assert all(v.cached for v in second) and not any(v.cached for v in first)
    assert [v.to_dict() | {"cached": True} for v in first] == [v.to_dict() for v in second]


def test_a_changed_output_is_judged_again(server, tmp_path):
    # The cache key includes the output text: a new answer to the same question is a new verdict.
    make_judge(server, tmp_path).judge(sample(0))
    judge = make_judge(server, tmp_path)
    verdict = judge.judge(sample(0, output="<sql>SELECT 1;</sql>"))
    assert not verdict.cached and judge.requests_sent == 1


def test_a_corrupt_cache_file_is_ignored_and_overwritten(server, tmp_path):
    # Half a file (a crash, a full disk) must not be read as a verdict, nor stop the run.
    make_judge(server, tmp_path).judge(sample())
    [cache_file] = list(tmp_path.glob("*.json"))
    cache_file.write_text('{"ok": true, "sql_sco')
    judge = make_judge(server, tmp_path)
    verdict = judge.judge(sample())
    assert verdict.ok and not verdict.cached and judge.requests_sent == 1
    assert json.loads(cache_file.read_text())["ok"] is True


# ------------------------------------------------------------------------------------------
# Protocol details


def test_concurrency_limit_bounds_requests_in_flight(server, tmp_path):
    # Each reply takes 0.3 s, so workers overlap: exactly 2 in flight at the peak shows both the
    # limit (never 3) and that the pool does run requests concurrently (not 1).
    server.responder = lambda i, body: Reply(content=json.dumps(GOOD), delay_s=0.3)
    verdicts = make_judge(server, tmp_path, concurrency=2).judge_many([sample(i) for i in range(8)], progress=False)
    assert all(v.ok for v in verdicts)
    assert server.max_in_flight == 2


def test_a_rejected_response_format_is_dropped_and_the_request_retried(server, tmp_path):
    # Many local servers refuse JSON mode with a 400 naming the field; the prompt alone asks for
    # JSON, so the judge asks again without it, and stops sending it for later samples.
    def responder(i, body):
        if "response_format" in body:
            return Reply(status=400, body=b'{"error": {"message": "Unsupported parameter: response_format"}}')
        return Reply(content=json.dumps(GOOD))

    server.responder = responder
    judge = make_judge(server, tmp_path, max_attempts=1)
    first = judge.judge(sample(0))
    second = judge.judge(sample(1))
    assert first.ok and first.attempts == 2
    assert second.ok and second.attempts == 1
    assert ["response_format" in b for b in server.bodies] == [True, False, False]


def test_another_bad_request_is_not_mistaken_for_a_response_format_rejection(server, tmp_path):
    # A 400 about something else (here the model name) fails at once, without a fallback retry.
    server.responder = lambda i, body: Reply(status=400, body=b'{"error": {"message": "unknown model"}}')
    judge = make_judge(server, tmp_path)
    verdict = judge.judge(sample())
    assert not verdict.ok and "400" in verdict.error and judge.requests_sent == 1


def test_token_usage_is_summed_over_requests(server, tmp_path):
    # Tokens of an unreadable answer were paid for too, so they count (sample 0: 2 requests).
    def responder(i, body):
        if i == 0:
            return Reply(content="not json", usage=(100, 1))
        return Reply(content=json.dumps(GOOD), usage=(10 + i, 5))

    server.responder = responder
    judge = make_judge(server, tmp_path, concurrency=1)
    verdicts = judge.judge_many([sample(0), sample(1)], progress=False)
    assert judge.usage == {"prompt_tokens": 100 + 11 + 12, "completion_tokens": 1 + 5 + 5}
    assert (verdicts[0].prompt_tokens, verdicts[0].completion_tokens) == (111, 6)
    assert (verdicts[1].prompt_tokens, verdicts[1].completion_tokens) == (12, 5)


def test_the_judge_sees_question_schema_gold_and_output(server, tmp_path):
    # The rubric needs all four; a prompt missing one would be graded blind.
    make_judge(server, tmp_path).judge(sample(7, output="MY RAW OUTPUT"))
    body = server.bodies[0]
    user = body["messages"][1]["content"]
    assert body["model"] == "test-judge" and body["messages"][0]["role"] == "system"
    for part in ("question 7: how many pets?", "CREATE TABLE pets (id INT);", "SELECT COUNT(*) FROM pets;",
                 "MY RAW OUTPUT"):
        assert part in user


def test_a_sample_missing_a_field_fails_before_any_request(server, tmp_path):
    # judge_many checks every sample first: no tokens are spent on a batch that would crash midway.
    judge = make_judge(server, tmp_path)
    bad = {k: v for k, v in sample(1).items() if k != "gold"}
    with pytest.raises(ValueError, match="'s1' lacks gold"):
        judge.judge_many([sample(0), bad], progress=False)
    assert judge.requests_sent == 0


# ------------------------------------------------------------------------------------------
# Configuration


def test_no_key_and_no_url_skips_the_judge(monkeypatch):
    # Nothing to talk to: the caller is told so in words it can log.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert judge_configuration(DEFAULT_JUDGE_MODEL, None) == (False, NO_JUDGE_REASON)


def test_a_url_without_a_key_is_usable(monkeypatch, tmp_path):
    # Local servers ignore the key; a placeholder lets the openai client start.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    usable, reason = judge_configuration(None, "http://127.0.0.1:8000/v1")
    assert usable and "127.0.0.1:8000" in reason
    Judge(None, "http://127.0.0.1:8000/v1", cache_dir=tmp_path)  # starts without raising


def test_a_key_from_the_environment_is_usable(monkeypatch):
    # The OpenAI API itself: OPENAI_API_KEY alone is enough.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert judge_configuration(None, None)[0]


# ------------------------------------------------------------------------------------------
# The real thing: transformers serve with the embedded model

# The tiny model generates 0.5-10 tokens/s depending on how loaded the 2 cores are: a short
# (likely cut, hence unreadable) verdict keeps the test bounded; the protocol is what is tested.
SERVE_MAX_TOKENS = 32
SERVE_REQUEST_TIMEOUT_S = 180.0


@pytest.mark.slow
def test_the_judge_round_trips_through_transformers_serve(transformers_server, tmp_path, monkeypatch):
    # The real server path: the openai client, our request (JSON mode included, which this
    # server ignores), its response and usage. The 135M model's verdict may well be unreadable;
    # what must not happen is a connection, timeout or protocol error.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    base_url, model_id = transformers_server
    judge = Judge(model_id, base_url, cache_dir=tmp_path / "cache", max_attempts=2,
                  timeout_s=SERVE_REQUEST_TIMEOUT_S, backoff_base_s=0.1, max_tokens=SERVE_MAX_TOKENS)
    verdict = judge.judge(sample())
    assert isinstance(verdict, JudgeVerdict)
    assert 1 <= verdict.attempts <= 2 and judge.requests_sent == verdict.attempts
    # Every request was answered with a 200 completion: the server reported tokens generated,
    # and a failure, if any, is an unreadable verdict, not a transport or HTTP error.
    assert judge.usage["completion_tokens"] > 0 and judge.usage["prompt_tokens"] > 0
    assert verdict.ok or verdict.error.startswith("no readable verdict") and "unreadable verdict" in verdict.error
