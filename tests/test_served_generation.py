"""Served generation (`sqlgrpo eval --generation-base-url URL --generation-model NAME`): the client
against real HTTP servers on loopback, and the eval stage wired to it.

The fast tests use the scripted OpenAI-compatible server of conftest.py, whose every request gets
the reply a test chose (server errors, rate limits, dropped connections, refusals, several
choices) and which counts what it received. The slow tests run the eval stage against
`transformers serve` with the embedded model (the `transformers_server` fixture of conftest.py).
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest
import yaml
from conftest import Reply, ScriptedServer

from sqlgrpo.cli import EXIT_FAILED, build_parser, main
from sqlgrpo.common.openai_retry import PLACEHOLDER_API_KEY
from sqlgrpo.llm.served import ServedGenerationError, ServedGenerator, split_tokens
from sqlgrpo.stages.config import RESOLVED_CONFIG_NAME, resolve, resolve_from_args
from sqlgrpo.stages.eval import GENERATIONS_FILE, METRICS_FILE, EvalError, evaluate

MODEL = "sql-lora"
ANSWER = "<reasoning>\ncount the rows of pets\n</reasoning>\n<sql>\nSELECT COUNT(*) FROM pets;\n</sql>"
# Tiny waits so retry tests take milliseconds; the logic is the same at 1 s.
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 5.0}
PETS = "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO pets VALUES (1, 'Rex'), (2, 'Tom');"
QUESTIONS = 5


def question(i: int) -> dict:
    """A record as generate_all hands it to the generator: its id and chat prompt."""
    return {"id": f"q{i}", "prompt": [{"role": "system", "content": "Answer with SQL."},
                                      {"role": "user", "content": f"question {i}: how many pets?"}]}


def asked(body: dict) -> int:
    """Which question a request body is about."""
    return int(re.search(r"question (\d+):", body["messages"][-1]["content"]).group(1))


def make_generator(server: ScriptedServer, **kwargs) -> ServedGenerator:
    return ServedGenerator(server.base_url, MODEL, **{**FAST, **kwargs})


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    """The scripted server answering ANSWER unless a test says otherwise."""
    scripted_server.responder = lambda i, body: Reply(content=ANSWER)
    return scripted_server


# ------------------------------------------------------------------------------------------
# Retries


@pytest.mark.parametrize("failure", [
    Reply(status=500),                                # something broke on the server
    Reply(status=503, headers={"Retry-After": "0"}),  # overloaded, and says when to come back
    Reply(status=429, headers={"Retry-After": "0"}),  # rate limited
    Reply(status=408),                                # the server timed the request out
    Reply(drop=True),                                 # the connection closes without an answer
    Reply(content=ANSWER, delay_s=2.0),               # slower than the client's 0.5 s timeout
], ids=["500", "503", "429", "408", "dropped", "timeout"])
def test_a_transient_failure_is_retried_and_the_next_answer_kept(server, failure):
    # Each of these says "try again": the second request's answer is the one returned.
    server.responder = lambda i, body: failure if i == 0 else Reply(content=ANSWER)
    generator = make_generator(server, timeout_s=0.5)
    entry = generator.answer(question(0)["prompt"], "q0")
    assert entry["outputs"] == [ANSWER]
    assert generator.requests_sent == len(server.bodies) == 2


def test_a_500_a_429_and_a_dropped_connection_in_a_row_fit_in_four_attempts(server):
    # Three failures of different kinds count against one budget of attempts: the fourth and
    # last allowed request answers, so the question is answered.
    replies = [Reply(status=500), Reply(status=429, headers={"Retry-After": "0"}), Reply(drop=True)]
    server.responder = lambda i, body: replies[i] if i < len(replies) else Reply(content=ANSWER)
    generator = make_generator(server, max_attempts=4)
    assert generator.answer(question(0)["prompt"], "q0")["outputs"] == [ANSWER]
    assert len(server.bodies) == 4


def test_a_question_failing_every_attempt_raises_an_error_naming_it(server):
    # Always 500: after max_attempts=3 the question is given up, never dropped silently, and
    # the error says which question, which server and model, and the last cause.
    server.responder = lambda i, body: Reply(status=500)
    with pytest.raises(ServedGenerationError) as error:
        make_generator(server, max_attempts=3).generate_batch([question(7)])
    assert len(server.bodies) == 3
    for part in ("'q7'", server.base_url, repr(MODEL), "3 attempts", "HTTP 500"):
        assert part in str(error.value)


@pytest.mark.parametrize("status, fix", [
    (401, "--generation-api-key"),  # a bad key: the key is what to change
    (404, "--generation-model"),    # an unknown model (or a base URL without /v1): the name is
])
def test_a_refusal_is_not_retried_and_says_what_to_fix(server, status, fix):
    # A 4xx other than 408/429 would come back the same however often it is sent: one request.
    server.responder = lambda i, body: Reply(status=status)
    with pytest.raises(ServedGenerationError) as error:
        make_generator(server, max_attempts=5).generate_batch([question(1)])
    assert len(server.bodies) == 1
    for part in (f"HTTP {status}", server.base_url, repr(MODEL), "'q1'", fix):
        assert part in str(error.value)


def test_a_question_failing_for_good_stops_the_retries_of_its_batch(server):
    # q0 is refused at once while q1-q3 meet 500s and back off 2.5-5 s (5 attempts each: 10 s
    # or more left alone). The refusal wakes them from their first backoff, so the batch ends
    # well within the shortest backoff, after one request each.
    server.responder = lambda i, body: Reply(status=401) if asked(body) == 0 else Reply(status=500)
    generator = make_generator(server, concurrency=4, max_attempts=5, backoff_base_s=5.0, backoff_max_s=5.0)
    start = time.monotonic()
    with pytest.raises(ServedGenerationError, match="HTTP 401"):
        generator.generate_batch([question(i) for i in range(4)])
    assert time.monotonic() - start < 2.0
    # At most one request per question, none retried (on a loaded machine the refusal may come
    # before the last worker has sent its first request: then it sends none).
    asked_questions = [asked(body) for body in server.bodies]
    assert 0 in asked_questions and len(asked_questions) == len(set(asked_questions)) <= 4


# ------------------------------------------------------------------------------------------
# Protocol


def test_concurrency_limit_bounds_requests_in_flight(server):
    # Each answer takes 0.3 s, so workers overlap: exactly 2 in flight at the peak shows both the
    # limit (never 3) and that requests do run concurrently (not 1).
    server.responder = lambda i, body: Reply(content=ANSWER, delay_s=0.3)
    entries = make_generator(server, concurrency=2).generate_batch([question(i) for i in range(8)])
    assert [e["outputs"] for e in entries] == [[ANSWER]] * 8
    assert server.max_in_flight == 2


def test_each_entry_lands_on_its_own_question(server):
    # Answers come back out of order (later questions answer faster); each entry must still be
    # its own question's, in the batch's order.
    def responder(i, body):
        n = asked(body)
        return Reply(content=f"answer to {n}", delay_s=0.05 * (5 - n))

    server.responder = responder
    entries = make_generator(server, concurrency=5).generate_batch([question(i) for i in range(5)])
    assert [e["outputs"] for e in entries] == [[f"answer to {i}"] for i in range(5)]


def test_one_sample_is_greedy_within_the_answer_budget(server):
    # num_samples 1: temperature 0, no `n` (some servers refuse it), max_tokens = the budget,
    # and the prompt's messages as they are.
    make_generator(server, max_tokens=32).answer(question(3)["prompt"], "q3")
    [body] = server.bodies
    assert body["temperature"] == 0.0 and "n" not in body and body["max_tokens"] == 32
    assert body["model"] == MODEL and body["messages"] == question(3)["prompt"]
    assert body.get("stream") in (None, False)


def test_several_samples_are_asked_with_n_and_the_sampling_settings(server):
    # A server honouring n answers all samples in one request, sampled as the eval config says.
    server.responder = lambda i, body: Reply(content=[f"answer {k}" for k in range(body.get("n", 1))])
    generator = make_generator(server, num_samples=3, temperature=0.6, top_p=0.9, max_tokens=64)
    entry = generator.answer(question(0)["prompt"], "q0")
    assert entry["outputs"] == ["answer 0", "answer 1", "answer 2"]
    [body] = server.bodies
    assert (body["n"], body["temperature"], body["top_p"], body["max_tokens"]) == (3, 0.6, 0.9, 64)


def test_a_server_returning_fewer_choices_is_asked_for_the_rest(server):
    # llama.cpp and transformers serve ignore n: one choice per request, so three samples take
    # three requests, each asking only for what is still missing.
    server.responder = lambda i, body: Reply(content=f"answer {i}")
    entry = make_generator(server, num_samples=3).answer(question(0)["prompt"], "q0")
    assert entry["outputs"] == ["answer 0", "answer 1", "answer 2"]
    assert [b["n"] for b in server.bodies] == [3, 2, 1]
    assert len(entry["tokens"]) == len(entry["latency_s"]) == 3


def test_tokens_are_the_usage_shared_among_the_choices(server):
    # One usage block counts both choices (12 tokens); their lengths (30 and 10 characters)
    # share it out 9 to 3.
    server.responder = lambda i, body: Reply(content=["a" * 30, "b" * 10], usage=(50, 12))
    entry = make_generator(server, num_samples=2).answer(question(0)["prompt"], "q0")
    assert entry["tokens"] == [9, 3]


def test_without_a_usage_block_tokens_are_a_rough_count(server):
    # No usage from the server: about four characters per token, not zero.
    server.responder = lambda i, body: Reply(content="x" * 40, usage=None)
    assert make_generator(server).answer(question(0)["prompt"], "q0")["tokens"] == [10]


def test_split_tokens_always_sums_to_the_total():
    # However the lengths fall, no token is lost or invented by rounding; all-empty texts split evenly.
    for total, texts in ((7, ["a", "b", "c"]), (10, ["", "xyz"]), (5, ["", ""]), (0, ["abc"])):
        assert sum(split_tokens(total, texts)) == total
    assert split_tokens(4, ["", ""]) == [2, 2]


def test_the_key_given_is_the_key_sent(server, monkeypatch):
    # An explicit key wins over OPENAI_API_KEY (which may be the judge's, for another server).
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    ServedGenerator(server.base_url, MODEL, "sk-given", **FAST).answer(question(0)["prompt"], "q0")
    assert server.authorizations == ["Bearer sk-given"]


def test_without_a_key_a_local_server_gets_the_placeholder(server, monkeypatch):
    # Local servers take any key, but the openai client does not start without one.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    make_generator(server).answer(question(0)["prompt"], "q0")
    assert server.authorizations == [f"Bearer {PLACEHOLDER_API_KEY}"]


# ------------------------------------------------------------------------------------------
# The eval stage through a served model


@pytest.fixture
def eval_file(tmp_path) -> Path:
    """Five questions on a two-row pets table, all answered by ANSWER."""
    path = tmp_path / "eval.jsonl"
    rows = [{"id": f"q{i}", "sql_prompt": f"question {i}: how many pets?", "sql_context": PETS,
             "sql": "SELECT COUNT(*) FROM pets;", "sql_complexity": "basic SQL"} for i in range(1, QUESTIONS + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def served_stage(server: ScriptedServer, eval_file: Path, **overrides):
    """The eval config of a served run: no judge, batches of 2 questions, one request at a time.
    The model is a name no tokenizer is found for, so no prompt is length-checked or dropped,
    whatever the local hub cache holds."""
    values = {"eval_file": str(eval_file), "output_dir": str(eval_file.parent / "out"), "judge": False, "limit": 0,
              "model": "no-such-org/no-such-model", "generation_base_url": server.base_url,
              "generation_model": MODEL, "batch_size": 2, "generation_concurrency": 1, "max_new_tokens": 32}
    return resolve("eval", overrides={**values, **overrides})


def test_a_served_run_answers_and_scores_every_question(server, eval_file):
    # One request per question; every answer is the right count, so every question is correct.
    metrics = evaluate(served_stage(server, eval_file), progress=False)
    assert sorted(asked(b) for b in server.bodies) == list(range(1, QUESTIONS + 1))
    assert metrics["n"] == QUESTIONS and metrics["execution_accuracy"] == 1.0


def test_metrics_name_the_server_and_the_served_model(server, eval_file):
    # metrics.json says where the answers came from: the served name is the model evaluated.
    evaluate(served_stage(server, eval_file), progress=False)
    metrics = json.loads((eval_file.parent / "out" / METRICS_FILE).read_text(encoding="utf-8"))
    assert metrics["model"] == MODEL and metrics["generation_server"] == server.base_url
    assert metrics["adapter"] is None and metrics["generation_requests"] == QUESTIONS


def test_without_a_local_tokenizer_no_prompt_is_dropped(server, eval_file):
    # A 10-token budget drops every prompt when a tokenizer counts; with none found, every
    # question is still sent and the metrics say nobody counted.
    metrics = evaluate(served_stage(server, eval_file, max_seq_length=10), progress=False)
    assert metrics["prompts_dropped"] == 0 and metrics["prompt_tokenizer"] is None
    assert len(server.bodies) == QUESTIONS


def test_resuming_a_finished_run_sends_no_request(server, eval_file):
    # Every generation is saved: the resumed run reads them all and asks the server nothing.
    evaluate(served_stage(server, eval_file), progress=False)
    first = evaluate(served_stage(server, eval_file), progress=False)  # without --resume: asked again
    assert len(server.bodies) == 2 * QUESTIONS
    resumed = evaluate(served_stage(server, eval_file, resume=True), progress=False)
    assert len(server.bodies) == 2 * QUESTIONS and resumed["generation_requests"] == 0
    assert resumed["execution_accuracy"] == first["execution_accuracy"]


def _stopped_run(server: ScriptedServer, eval_file: Path) -> EvalError:
    """A run in which question 3 (the second batch's first) gets a 500 on its only attempt."""
    server.responder = lambda i, body: Reply(status=500) if asked(body) == 3 else Reply(content=ANSWER)
    with pytest.raises(EvalError) as error:
        evaluate(served_stage(server, eval_file, generation_max_attempts=1), progress=False)
    return error.value


def test_a_question_still_failing_stops_the_run_naming_it_and_the_saved_file(server, eval_file):
    # The run does not go on without q3's answer (scoring it as wrong would fake a 0): it stops,
    # and says which question, why, and where the generations made so far are.
    message = str(_stopped_run(server, eval_file))
    saved = eval_file.parent / "out" / GENERATIONS_FILE
    for part in ("'q3'", "HTTP 500", server.base_url, str(saved), "--resume"):
        assert part in message
    assert [json.loads(line)["id"] for line in saved.read_text().splitlines()] == ["q1", "q2"]


def test_resuming_a_stopped_run_asks_only_for_the_missing_questions(server, eval_file):
    # The first batch (q1, q2) was saved before q3 failed; once the server answers again, the
    # resumed run asks for q3, q4 and q5 only, and scores all five.
    _stopped_run(server, eval_file)
    before = len(server.bodies)
    server.responder = lambda i, body: Reply(content=ANSWER)
    metrics = evaluate(served_stage(server, eval_file, resume=True), progress=False)
    assert sorted(asked(b) for b in server.bodies[before:]) == [3, 4, 5]
    assert metrics["n"] == QUESTIONS


def test_the_api_key_is_not_written_to_the_output_folder(server, eval_file):
    # resolved_config.yaml sits next to shareable results: the key is null there.
    evaluate(served_stage(server, eval_file, generation_api_key="sk-secret-123"), progress=False)
    assert server.authorizations[0] == "Bearer sk-secret-123"
    out = eval_file.parent / "out"
    assert not any("sk-secret-123" in p.read_text(encoding="utf-8", errors="replace")
                   for p in out.rglob("*") if p.is_file())
    assert yaml.safe_load((out / RESOLVED_CONFIG_NAME).read_text())["eval"]["generation_api_key"] is None


def test_an_adapter_with_a_generation_server_is_refused(server, eval_file, tmp_path):
    # The server serves the adapter; loading it here would evaluate something else. The error
    # says how to serve it, and nothing is sent.
    with pytest.raises(EvalError) as error:
        evaluate(served_stage(server, eval_file, adapter=str(tmp_path)), progress=False)
    assert "--lora-modules" in str(error.value) and "--generation-model" in str(error.value)
    assert server.bodies == []


@pytest.mark.parametrize("option", [{"use_vllm": True}, {"predictions": "pred.sql"}], ids=["use_vllm", "predictions"])
def test_another_source_of_answers_with_a_generation_server_is_refused(server, eval_file, option):
    # Two ways to get the answers: which one was meant is not ours to guess.
    with pytest.raises(EvalError, match="--generation-base-url"):
        evaluate(served_stage(server, eval_file, **option), progress=False)
    assert server.bodies == []


def test_a_generation_model_without_a_server_is_refused(eval_file):
    # A served name alone says nothing about where it is served.
    stage = resolve("eval", overrides={"eval_file": str(eval_file), "judge": False, "generation_model": MODEL,
                                       "output_dir": str(eval_file.parent / "out")})
    with pytest.raises(EvalError, match="--generation-base-url"):
        evaluate(stage, progress=False)


# ------------------------------------------------------------------------------------------
# The command line


def test_the_generation_flags_parse_into_the_eval_config():
    # Every served-generation setting is a flag of `sqlgrpo eval`, as the config fields are.
    args = build_parser().parse_args([
        "eval", "--generation-base-url", "http://127.0.0.1:8000/v1", "--generation-model", MODEL,
        "--generation-api-key", "sk-x", "--generation-concurrency", "3", "--generation-max-attempts", "4",
        "--generation-timeout-s", "9.5"])
    cfg = resolve_from_args("eval", args).section
    assert (cfg.generation_base_url, cfg.generation_model, cfg.generation_api_key) == (
        "http://127.0.0.1:8000/v1", MODEL, "sk-x")
    assert (cfg.generation_concurrency, cfg.generation_max_attempts, cfg.generation_timeout_s) == (3, 4, 9.5)


def test_the_command_with_an_adapter_and_a_server_fails_in_one_clean_line(server, eval_file, tmp_path, caplog,
                                                                         capsys):
    # Through the CLI: exit status 1 and the explanation, no traceback.
    argv = ["eval", "--generation-base-url", server.base_url, "--generation-model", MODEL, "--adapter",
            str(tmp_path), "--eval-file", str(eval_file), "--output-dir", str(tmp_path / "out"), "--no-judge"]
    with caplog.at_level(logging.ERROR, logger="sqlgrpo"):
        assert main(argv) == EXIT_FAILED
    assert "Traceback" not in capsys.readouterr().err
    assert any("--lora-modules" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------
# slow: the eval stage against `transformers serve` running the embedded model

# The tiny model generates 0.5-10 tokens/s depending on how loaded the 2 cores are: 16 tokens
# keep 3 questions x 2 samples within a minute or two; the protocol is what is tested.
SERVE_MAX_NEW_TOKENS = 16
SERVE_REQUEST_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def served_run(transformers_server, tmp_path_factory):
    """`sqlgrpo eval` on 3 questions of the embedded sample, 2 samples each, through the server."""
    from sqlgrpo.data.sources import embedded_dataset_path

    base_url, model_id = transformers_server
    overrides = {"eval_file": str(embedded_dataset_path()), "limit": 3, "judge": False, "model": "embedded",
                 "output_dir": str(tmp_path_factory.mktemp("served") / "out"), "num_samples": 2,
                 "max_new_tokens": SERVE_MAX_NEW_TOKENS, "generation_base_url": base_url,
                 "generation_model": model_id, "generation_concurrency": 2,
                 "generation_timeout_s": SERVE_REQUEST_TIMEOUT_S}
    return overrides, evaluate(resolve("eval", overrides=overrides), progress=False)


@pytest.mark.slow
def test_a_real_server_answers_every_sample(served_run):
    # Three questions, two samples each, every answer with the tokens the server counted.
    overrides, metrics = served_run
    results = json.loads((Path(overrides["output_dir"]) / "evaluation_results.json").read_text())
    assert metrics["n"] == 3 and len(results) == 3
    generations = [json.loads(line) for line in
                   (Path(overrides["output_dir"]) / GENERATIONS_FILE).read_text().splitlines()]
    assert [len(g["outputs"]) for g in generations] == [2, 2, 2]
    assert all(t > 0 for g in generations for t in g["tokens"])
    # transformers serve ignores `n`, so each sample took its own request (6); a server that
    # honours it would take 3. Anything else is a lost or duplicated request.
    assert metrics["generation_requests"] in (3, 6)


@pytest.mark.slow
def test_a_real_served_run_names_the_server_and_counts_prompts_with_the_local_tokenizer(served_run):
    # --model embedded has a local tokenizer: prompts were length-checked with it.
    overrides, metrics = served_run
    assert metrics["model"] == overrides["generation_model"]
    assert metrics["generation_server"] == overrides["generation_base_url"]
    assert metrics["prompt_tokenizer"] == "embedded"


@pytest.mark.slow
def test_resuming_a_real_served_run_sends_no_request(served_run):
    # All six answers are saved: the resumed run asks the server for nothing and scores the same.
    overrides, metrics = served_run
    resumed = evaluate(resolve("eval", overrides={**overrides, "resume": True}), progress=False)
    assert resumed["generation_requests"] == 0
    assert resumed["execution_accuracy"] == metrics["execution_accuracy"]
