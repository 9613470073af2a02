"""The `eval` stage: scoring one answer, the metrics, generation with resume, and the CLI
(`eval`, `compare`, `ask`) end to end on the embedded model.

Fast tests score hand-written answers against a three-row `pets` table, compute metrics over
synthetic per-sample records, and drive `generate_all` with a plain generator function that
records what it was asked for.

Slow tests run the real `sqlgrpo` command in subprocesses on the embedded model (SmolLM2-135M)
with tiny budgets (16 new tokens, 10 questions or fewer). Each model run happens ONCE in a
module-scoped fixture and several tests read its outputs. The judge runs against an
OpenAI-compatible server on loopback started by the tests, which answers every second request
with a 500.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import serving

from sqlgrpo.report.console import eval_summary_text as summary_text
from sqlgrpo.scoring.judge import NO_JUDGE_REASON
from sqlgrpo.scoring.metrics import (
    METRICS,
    RATE_KEYS,
    compute_metrics,
    exact_match,
    rate,
    score_answer,
    score_questions,
    self_consistent,
)
from sqlgrpo.scoring.rewards import EXECUTABLE_SHAPE_FLOOR, shaped_executable_reward
from sqlgrpo.stages.eval import (
    CSV_FILE,
    GENERATIONS_FILE,
    METRICS_FILE,
    REPORT_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    EvalError,
    generate_all,
    load_run,
    score_rewards,
)

VENV_BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 600  # one tiny eval is ~40 s alone, a few minutes on 2 busy cores; never hang CI
CLI_TIMEOUT_S = 120  # commands that load no model

PETS = ("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, species TEXT, age INTEGER); "
        "INSERT INTO pets VALUES (1, 'Rex', 'dog', 3), (2, 'Tom', 'cat', 5), (3, 'Bo', 'dog', 8);")
DOGS = {"id": "dogs", "sql_prompt": "Name and age of every dog?", "sql_context": PETS,
        "sql": "SELECT name, age FROM pets WHERE species = 'dog';", "sql_complexity": "basic SQL"}


def answer(sql: str, reasoning: str = "dogs are the rows of pets with species 'dog'") -> str:
    """An answer in exactly the trained format."""
    return f"<reasoning>\n{reasoning}\n</reasoning>\n<sql>\n{sql}\n</sql>"


RIGHT = answer("SELECT name, age FROM pets WHERE species = 'dog'")
RIGHT_ALIASED = answer("SELECT p.age AS years, p.name AS who FROM pets AS p WHERE p.species = 'dog'")
WRONG_CAT = answer("SELECT name, age FROM pets WHERE species = 'cat'")
SYNTAX_ERROR = answer("SELECT name, age FRM pets")
NO_SQL = "I am not sure how to answer that."


# --------------------------------------------------------------------------------------------
# score_answer


def test_a_correct_answer_with_other_aliases_and_column_order_is_correct():
    # Aliases and column order never matter (Spider semantics): same rows, so correct.
    scored = score_answer(RIGHT_ALIASED, DOGS)
    assert scored["correct"] and scored["valid_sql"]
    assert scored["error_kind"] == "correct" and scored["error"] == ""


def test_a_wrong_filter_is_a_wrong_result():
    # It runs (valid SQL) but returns the cat, not the dogs.
    scored = score_answer(WRONG_CAT, DOGS)
    assert scored["valid_sql"] and not scored["correct"]
    assert scored["error_kind"] == "wrong_result"


@pytest.mark.parametrize("sql, kind, message", [
    # FRM is no keyword: the engine cannot parse the statement.
    ("SELECT name, age FRM pets", "syntax", "syntax error"),
    # No table `animals` in the schema.
    ("SELECT name FROM animals", "missing_table", "animals"),
    # No column `colour` in pets.
    ("SELECT name, colour FROM pets", "missing_column", "colour"),
])
def test_sql_that_does_not_run_gets_the_engine_error_kind(sql, kind, message):
    scored = score_answer(answer(sql), DOGS)
    assert not scored["valid_sql"] and not scored["correct"]
    assert scored["error_kind"] == kind and message in scored["error"]


def test_an_answer_without_sql_is_no_sql():
    # Prose only: nothing to run, and it says so rather than calling it a syntax error.
    scored = score_answer(NO_SQL, DOGS)
    assert scored["extracted_sql"] is None and not scored["valid_sql"]
    assert scored["error_kind"] == "no_sql"


def test_a_delete_for_a_select_gold_is_the_wrong_statement_kind():
    # The DELETE runs (valid SQL), but deleting the dogs does not answer "which dogs".
    scored = score_answer(answer("DELETE FROM pets WHERE species = 'dog'"), DOGS)
    assert scored["valid_sql"] and not scored["correct"]
    assert scored["error_kind"] == "wrong_statement_kind"


@pytest.mark.parametrize("output, strict, soft", [
    # Exactly the format: both flags.
    (RIGHT, True, True),
    # Prose before the tags breaks the strict format; all four soft parts are still there.
    ("Sure! " + RIGHT, False, True),
    # No reasoning block: half the soft score, so neither flag.
    ("<sql>SELECT name, age FROM pets WHERE species = 'dog'</sql>", False, False),
    # A bare statement: no tags at all.
    ("SELECT name, age FROM pets WHERE species = 'dog'", False, False),
])
def test_format_flags_strict_and_soft(output, strict, soft):
    scored = score_answer(output, DOGS)
    assert (scored["format_strict"], scored["format_soft"]) == (strict, soft)
    assert scored["correct"]  # the format is measured apart from correctness: every one of these is right


GOLD = "SELECT name, age FROM pets WHERE species = 'dog';"


@pytest.mark.parametrize("pred", [
    # Keyword and identifier case: SQLite identifiers are case-insensitive.
    "select NAME, Age from PETS where SPECIES = 'dog'",
    # Whitespace, line breaks and the trailing semicolon.
    "SELECT  name,\n  age\nFROM pets   WHERE species='dog';",
])
def test_exact_match_ignores_case_and_whitespace(pred):
    assert exact_match(pred, GOLD)


@pytest.mark.parametrize("pred", [
    'SELECT "name", "age" FROM "pets" WHERE "species" = \'dog\'',
    "SELECT `name`, age FROM pets WHERE species = 'dog'",
])
def test_exact_match_ignores_identifier_quoting(pred):
    assert exact_match(pred, GOLD)


@pytest.mark.parametrize("pred", [
    # Another literal is another query, even when one letter's case differs: 'Dog' is not 'dog'.
    "SELECT name, age FROM pets WHERE species = 'cat'",
    "SELECT name, age FROM pets WHERE species = 'Dog'",
    # Same rows, other text: exact match is about the text, execution accuracy about the rows.
    "SELECT p.name, p.age FROM pets AS p WHERE p.species = 'dog'",
    # Unparsable, and no SQL at all.
    "SELECT name age FROM FROM pets",
    None,
])
def test_exact_match_rejects_another_query(pred):
    assert not exact_match(pred, GOLD)


# --------------------------------------------------------------------------------------------
# compute_metrics and summary_text


def sample(kind: str, cls: str | None, *, correct=False, strict=False, exact=False, valid=False, fmt=False,
           soft=False, tokens=10, latency=1.0) -> dict:
    # No test suites here: right on the shown database (`shown_correct`) is right on every one.
    return {"error_kind": kind, "sql_complexity": cls, "correct": correct, "shown_correct": correct,
            "strict_correct": strict, "exact_match": exact, "valid_sql": valid, "format_strict": fmt,
            "format_soft": soft, "tokens": tokens, "latency_s": latency}


# Four answers, listed out of taxonomy order: one perfect, one right but loosely formatted,
# one wrong, one without SQL (and without a complexity label).
FOUR = [
    sample("no_sql", None, tokens=40, latency=1.0),
    sample("correct", "basic SQL", correct=True, strict=True, exact=True, valid=True, fmt=True, soft=True,
           tokens=10, latency=1.0),
    sample("correct", "aggregation", correct=True, valid=True, soft=True, tokens=20, latency=1.0),
    sample("wrong_result", "aggregation", valid=True, tokens=30, latency=2.0),
]
def _result(output: str) -> dict:
    # A scored answer as the eval stage holds it: its verdict's score rides along.
    return {**score_answer(output, DOGS), "gold": DOGS["sql"], "context": DOGS["sql_context"]}


def test_mean_reward_is_the_weighted_sum_of_the_training_rewards():
    # The eval scores answers with GRPO's own rewards: a correct answer in the format earns the
    # execution reward, no SQL earns none of it; the mean is over answers.
    weights = {"execution_reward": 2.0, "strict_format_reward": 1.0}
    results = [_result(RIGHT), _result(NO_SQL)]
    summary = score_rewards(results, weights)
    assert results[0]["rewards"] == {"execution_reward": 1.0, "strict_format_reward": 1.0}
    assert results[0]["reward"] == 3.0 and results[1]["reward"] == 0.0
    assert summary["mean_reward"] == 1.5
    assert summary["reward_means"] == {"execution_reward": 0.5, "strict_format_reward": 0.5}


def test_the_shaped_executable_reward_is_read_off_the_verdict_as_the_reward_function_scores_it():
    # Not run again: the verdict's score and the answer's clauses give what GRPO's function gives.
    outputs = [RIGHT, WRONG_CAT, answer("SELECT name FROM pets"),
               answer("SELECT name, age FROM pets WHERE species = 'dog' ORDER BY age"), SYNTAX_ERROR, NO_SQL]
    results = [_result(o) for o in outputs]
    score_rewards(results, {"shaped_executable_reward": 1.0})
    direct = shaped_executable_reward(outputs, sql=[DOGS["sql"]] * 6, sql_context=[DOGS["sql_context"]] * 6)
    # the gold is a lookup (its WHERE weighs 0.5): one without the WHERE keeps the floor, one with an
    # ORDER BY the gold lacks a third of the rest
    floor = EXECUTABLE_SHAPE_FLOOR
    expected = [1.0, 1.0, floor, pytest.approx(floor + (1 - floor) / 3), 0.0, 0.0]
    assert [r["rewards"]["shaped_executable_reward"] for r in results] == direct == expected


def test_an_unknown_reward_weight_is_named():
    with pytest.raises(EvalError, match="unknown reward 'exec_reward'"):
        score_rewards([_result(RIGHT)], {"exec_reward": 1.0})


# (rate, count) per rate over FOUR.
FOUR_RATES = {"execution_accuracy": (0.5, 2), "test_suite_accuracy": (0.5, 2), "strict_execution_accuracy": (0.25, 1),
              "exact_match": (0.25, 1), "valid_sql_rate": (0.75, 3), "format_compliance": (0.25, 1),
              "soft_format_rate": (0.5, 2)}


def test_compute_metrics_rates_and_counts():
    # Every rate is the share of records with its flag, and its count is that number of records.
    metrics = compute_metrics(FOUR)
    assert metrics["n"] == 4
    assert {k: (metrics[k], metrics[f"{k}_count"]) for k in RATE_KEYS} == FOUR_RATES


def test_compute_metrics_by_complexity_with_n():
    # Per class, the same rates and the class size; a record without a class is "unlabelled".
    by_class = compute_metrics(FOUR)["by_complexity"]
    assert {cls: (m["n"], m["execution_accuracy"], m["soft_format_rate"]) for cls, m in by_class.items()} == {
        "aggregation": (2, 0.5, 0.5), "basic SQL": (1, 1.0, 1.0), "unlabelled": (1, 0.0, 0.0)}
    assert all(set(RATE_KEYS) <= set(m) for m in by_class.values())


def test_compute_metrics_error_taxonomy_counts_in_taxonomy_order():
    # Counts per kind, in the order reports list them (correct first), whatever the record order;
    # kinds that did not occur are left out.
    taxonomy = compute_metrics(FOUR)["error_taxonomy"]
    assert list(taxonomy.items()) == [("correct", 2), ("wrong_result", 1), ("no_sql", 1)]


def test_compute_metrics_tokens_and_latency():
    # Means per answer, and the speed as all tokens over all time (100 tokens in 5 s).
    metrics = compute_metrics(FOUR)
    assert (metrics["tokens_mean"], metrics["latency_mean_s"], metrics["tokens_per_s"]) == (25.0, 1.25, 20.0)


def test_single_answers_have_no_pass_at_k():
    # One answer per question: pass@k and self-consistency are undefined, not 0.
    metrics = compute_metrics(FOUR)
    assert metrics["pass_at_k"] is None and metrics["self_consistency_accuracy"] is None


def test_single_answers_count_as_one_sample_each():
    # A greedy run drew one answer per question; metrics.json must not claim zero.
    assert compute_metrics(FOUR)["num_samples"] == 1


def test_pass_at_k_can_be_right_where_the_majority_vote_is_wrong():
    # Three answers per question, scored from raw outputs as the eval stage does:
    # q1: two answers agree on the cat (wrong), one finds the dogs: pass@3 yes, majority no.
    # q2: two right answers (written differently, same rows) outvote a wrong one: both yes.
    # q3: nothing runs: both no.
    records = score_questions([{**DOGS, "id": q} for q in ("q1", "q2", "q3")],
                              [{"outputs": [WRONG_CAT, WRONG_CAT, RIGHT]}, {"outputs": [RIGHT, WRONG_CAT, RIGHT_ALIASED]},
                               {"outputs": [NO_SQL, SYNTAX_ERROR, NO_SQL]}], "sqlite")
    assert [(r["pass_at_k"], r["self_consistency_correct"]) for r in records] == [
        (True, False), (True, True), (False, False)]
    metrics = compute_metrics(records)
    assert metrics["num_samples"] == 3
    assert (metrics["pass_at_k"], metrics["self_consistency_accuracy"]) == (0.6667, 0.3333)
    # The headline accuracy is the first answer's: only q2's first answer is right.
    assert metrics["execution_accuracy"] == 0.3333


def test_summary_text_shows_every_rate_with_its_count():
    # A reader of evaluation_summary.txt sees "50.0%  (2/4)", not a bare percentage.
    text = summary_text({**compute_metrics(FOUR), "model": "embedded", "eval_file": "eval.jsonl"})
    for key, (share, count) in FOUR_RATES.items():
        assert re.search(rf"^{key}\s+{100 * share:.1f}%\s+\({count}/4\)$", text, re.MULTILINE), key


# --------------------------------------------------------------------------------------------
# self_consistent


def scored(*outputs: str) -> list[dict]:
    return [score_answer(o, DOGS) for o in outputs]


def test_self_consistency_votes_on_outcomes_not_text():
    # Two right answers written differently return the same rows: one group of two beats the cat.
    assert self_consistent(scored(RIGHT, WRONG_CAT, RIGHT_ALIASED))


@pytest.mark.parametrize("outputs, expected", [
    # One right, one wrong: a tie, and the earliest group (the cat) wins.
    ((WRONG_CAT, RIGHT), False),
    # The same tie the other way round: the right group came first.
    ((RIGHT, WRONG_CAT), True),
])
def test_self_consistency_breaks_ties_by_the_earliest_answer(outputs, expected):
    assert self_consistent(scored(*outputs)) is expected


def test_answers_that_do_not_run_do_not_vote():
    # Three failures are no majority: the one answer that ran decides.
    assert self_consistent(scored(SYNTAX_ERROR, NO_SQL, SYNTAX_ERROR, RIGHT))


@pytest.mark.parametrize("outputs", [(NO_SQL, SYNTAX_ERROR), ()])
def test_self_consistency_without_a_runnable_answer_is_wrong(outputs):
    # Nothing ran (or nothing was drawn): there is no outcome to vote for.
    assert self_consistent(scored(*outputs)) is False


# --------------------------------------------------------------------------------------------
# generate_all with resume


def records(n: int) -> list[dict]:
    return [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(n)]


class Generator:
    """A plain generate_batch: answers "<label>:<id>" and notes each batch's ids and how many
    lines the generations file held when the batch was asked for."""

    def __init__(self, label: str, path: Path):
        self.label, self.path = label, path
        self.batches: list[list[str]] = []
        self.lines_before: list[int] = []

    def __call__(self, batch: list[dict]) -> list[dict]:
        self.batches.append([r["id"] for r in batch])
        self.lines_before.append(len(self.path.read_text().splitlines()) if self.path.exists() else 0)
        return [{"outputs": [f"{self.label}:{r['id']}"], "tokens": [3], "latency_s": [0.5]} for r in batch]

    @property
    def asked(self) -> list[str]:
        return [i for b in self.batches for i in b]


def outputs_of(done: dict) -> dict[str, str]:
    return {k: v["outputs"][0] for k, v in done.items()}


def test_generations_are_saved_batch_by_batch(tmp_path):
    # Before each batch the file already holds every earlier batch (0, 2, 4 lines): a kill loses
    # at most the batch in flight.
    path = tmp_path / GENERATIONS_FILE
    gen = Generator("first", path)
    done = generate_all(records(5), gen, path, batch_size=2, resume=False, progress=False)
    assert gen.batches == [["r0", "r1"], ["r2", "r3"], ["r4"]]
    assert gen.lines_before == [0, 2, 4]
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [f"r{i}" for i in range(5)]
    assert outputs_of(done) == {f"r{i}": f"first:r{i}" for i in range(5)}


def test_resume_generates_only_what_is_not_saved(tmp_path):
    # Three saved, five wanted: only r3 and r4 are generated; r0-r2 keep their saved answers.
    path = tmp_path / GENERATIONS_FILE
    generate_all(records(3), Generator("first", path), path, batch_size=2, resume=False, progress=False)
    second = Generator("second", path)
    done = generate_all(records(5), second, path, batch_size=2, resume=True, progress=False)
    assert second.asked == ["r3", "r4"]
    assert outputs_of(done) == {"r0": "first:r0", "r1": "first:r1", "r2": "first:r2",
                                "r3": "second:r3", "r4": "second:r4"}


def _cut_last_line(path: Path) -> None:
    """What a kill in the middle of writing the last line leaves: a line without its end."""
    text = path.read_text()
    path.write_text(text[:-10])


def test_a_line_cut_by_a_kill_is_generated_again(tmp_path):
    # r2's line lost its end: it is not a generation, so resume asks for r2 again (and only r2).
    path = tmp_path / GENERATIONS_FILE
    generate_all(records(3), Generator("first", path), path, batch_size=3, resume=False, progress=False)
    _cut_last_line(path)
    second = Generator("second", path)
    done = generate_all(records(3), second, path, batch_size=3, resume=True, progress=False)
    assert second.asked == ["r2"]
    assert outputs_of(done) == {"r0": "first:r0", "r1": "first:r1", "r2": "second:r2"}


def test_after_repairing_a_cut_line_a_second_resume_generates_nothing(tmp_path):
    # The repaired run saved r2 again: a further resume must find every answer on disk.
    path = tmp_path / GENERATIONS_FILE
    generate_all(records(3), Generator("first", path), path, batch_size=3, resume=False, progress=False)
    _cut_last_line(path)
    generate_all(records(3), Generator("second", path), path, batch_size=3, resume=True, progress=False)
    third = Generator("third", path)
    generate_all(records(3), third, path, batch_size=3, resume=True, progress=False)
    assert third.asked == []


def test_without_resume_everything_is_generated_again(tmp_path):
    # resume=False: saved answers are discarded, every record is asked for, the file holds only the new run.
    path = tmp_path / GENERATIONS_FILE
    generate_all(records(3), Generator("first", path), path, batch_size=2, resume=False, progress=False)
    second = Generator("second", path)
    done = generate_all(records(3), second, path, batch_size=2, resume=False, progress=False)
    assert second.asked == ["r0", "r1", "r2"]
    assert [json.loads(line)["outputs"][0] for line in path.read_text().splitlines()] == \
        ["second:r0", "second:r1", "second:r2"]
    assert outputs_of(done) == {f"r{i}": f"second:r{i}" for i in range(3)}


# --------------------------------------------------------------------------------------------
# load_run and compare on folders that are not runs


def test_load_run_without_metrics_names_the_folder(tmp_path):
    # The message must say which folder and which file, so the user sees the wrong path at once.
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    with pytest.raises(EvalError, match=rf"{re.escape(str(folder))} is not an eval run folder.*{METRICS_FILE}"):
        load_run(folder)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k != "OPENAI_API_KEY" and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    # Wide enough that rich does not wrap log lines (asserted in); no hub calls; loopback direct.
    env.update(COLUMNS="400", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", NO_PROXY="127.0.0.1,localhost")
    # One torch thread: the 2 cores are shared with other jobs, and spinning OpenMP threads on a
    # busy core made generation slower, not faster (as in test_train).
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def sqlgrpo(*args: str, cwd: Path, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "sqlgrpo"), *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def test_compare_of_a_folder_that_is_not_a_run_fails_with_exit_1(tmp_path):
    # Empty folders hold no metrics.json: exit 1 and the reason, no report.
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    done = sqlgrpo("compare", str(a), str(b), "--output-dir", str(tmp_path / "C"), cwd=tmp_path,
                   timeout=CLI_TIMEOUT_S)
    assert done.returncode == 1, done.stdout
    assert "is not an eval run folder" in done.stdout
    assert not (tmp_path / "C" / "compare.html").exists()


# --------------------------------------------------------------------------------------------
# slow: the real eval stage on the embedded model


@dataclass
class Run:
    out: Path
    returncode: int
    log: str

    def ok(self) -> None:
        assert self.returncode == 0, self.log[-4000:]

    def metrics(self) -> dict:
        return json.loads((self.out / METRICS_FILE).read_text(encoding="utf-8"))

    def results(self) -> list[dict]:
        return json.loads((self.out / RESULTS_FILE).read_text(encoding="utf-8"))

    def generations(self) -> bytes:
        return (self.out / GENERATIONS_FILE).read_bytes()


def eval_run(out: Path, eval_file: Path, *flags: str) -> Run:
    done = sqlgrpo("eval", "--model", "embedded", "--eval-file", str(eval_file), "--output-dir", str(out), *flags,
                   cwd=out.parent)
    return Run(out, done.returncode, done.stdout)


@pytest.fixture(scope="module")
def eval_file(tmp_path_factory) -> Path:
    """The embedded sample prepared into a temp folder: its eval file."""
    from sqlgrpo.stages.prepare import PrepareOptions, prepare

    data = tmp_path_factory.mktemp("data")
    prepare(PrepareOptions(output_dir=str(data)), progress=False)
    return data / "cleaned_eval_queries.jsonl"


BASE_FLAGS = ("--limit", "10", "--no-judge", "--max-new-tokens", "16", "--batch-size", "10")


@pytest.fixture(scope="module")
def base_run(eval_file, tmp_path_factory) -> Run:
    """`sqlgrpo eval` on 10 questions, greedy, 16 new tokens, no judge."""
    return eval_run(tmp_path_factory.mktemp("eval") / "D", eval_file, *BASE_FLAGS)


@dataclass
class Resumed:
    run: Run
    generations_before: bytes
    results_before: list[dict]


@pytest.fixture(scope="module")
def resumed_run(base_run, eval_file) -> Resumed:
    """The same command again on the same folder, with --resume."""
    base_run.ok()
    generations, results = base_run.generations(), base_run.results()
    return Resumed(eval_run(base_run.out, eval_file, *BASE_FLAGS, "--resume"), generations, results)


@pytest.mark.slow
def test_eval_exits_0_and_prints_the_summary(base_run):
    base_run.ok()
    # The summary printed is the one saved, and it is the summary of the saved metrics.
    saved = (base_run.out / SUMMARY_FILE).read_text(encoding="utf-8")
    assert saved == summary_text(base_run.metrics())
    assert saved in base_run.log


@pytest.mark.slow
def test_eval_records_the_weights_it_generated_with(base_run, eval_file, tmp_path):
    from sqlgrpo.stages.training import precision

    base_run.ok()
    assert base_run.metrics()["weights_dtype"] == "float32"  # no --bf16
    bf16 = eval_run(tmp_path / "bf16", eval_file, *BASE_FLAGS, "--bf16")
    bf16.ok()
    # In bf16 where this CPU runs it (the weights cast for generating), fp32 elsewhere.
    expected = "bfloat16" if precision(True) == "bf16-autocast" else "float32"
    assert bf16.metrics()["weights_dtype"] == expected
    assert len(bf16.results()) == len(base_run.results())


@pytest.mark.slow
def test_eval_results_hold_one_full_object_per_question(base_run, eval_file):
    # Every question evaluated, in file order, with what a reader of the results needs.
    base_run.ok()
    results = base_run.results()
    expected = [json.loads(line) for line in eval_file.read_text(encoding="utf-8").splitlines()[:10]]
    assert [r["question"] for r in results] == [e["sql_prompt"] for e in expected]
    assert [(r["context"], r["gold"]) for r in results] == [(e["sql_context"], e["sql"]) for e in expected]
    for r in results:
        assert {"question", "context", "gold", "raw_output", "extracted_sql", "reasoning", "error_kind",
                "judge"} <= set(r)
        assert isinstance(r["raw_output"], str)
        assert r["judge"] is None  # --no-judge


@pytest.mark.slow
def test_eval_csv_has_a_row_per_question(base_run):
    base_run.ok()
    with open(base_run.out / CSV_FILE, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [row["id"] for row in rows] == [r["id"] for r in base_run.results()]
    assert [row["error_kind"] for row in rows] == [r["error_kind"] for r in base_run.results()]


@pytest.mark.slow
def test_eval_metrics_have_every_rate_overall_and_per_class(base_run):
    base_run.ok()
    metrics, results = base_run.metrics(), base_run.results()
    assert metrics["n"] == 10
    assert set(RATE_KEYS) <= set(metrics)
    classes = metrics["by_complexity"]
    assert sum(m["n"] for m in classes.values()) == 10  # every question in exactly one class
    for cls, m in classes.items():
        # Each class's rates are those of its own questions' saved results.
        members = [r for r in results if str(r.get("sql_complexity") or "unlabelled") == cls]
        assert m["n"] == len(members)
        for key in RATE_KEYS:
            assert m[key] == round(rate(members, METRICS[key]), 4), (cls, key)
    assert metrics["judge"] is None and metrics["pass_at_k"] is None


@pytest.mark.slow
def test_eval_metrics_are_a_function_of_the_saved_results(base_run):
    # metrics.json can be recomputed from evaluation_results.json: nothing is measured twice.
    base_run.ok()
    recomputed, saved = compute_metrics(base_run.results()), base_run.metrics()
    for key in ("n", *RATE_KEYS, *(f"{k}_count" for k in RATE_KEYS), "by_complexity", "error_taxonomy",
                "tokens_mean"):
        assert recomputed[key] == saved[key], key


@pytest.mark.slow
def test_eval_report_embeds_its_charts(base_run):
    # The report works offline: plots are inline PNGs, not files beside it.
    base_run.ok()
    assert "data:image/png;base64," in (base_run.out / REPORT_FILE).read_text(encoding="utf-8")


@pytest.mark.slow
def test_resume_reuses_every_saved_generation(resumed_run):
    # Nothing was generated: the file is byte for byte the first run's, and the log says all 10 were reused.
    resumed_run.run.ok()
    after = resumed_run.run.generations()
    assert after == resumed_run.generations_before
    assert len(after.splitlines()) == 10
    assert "resuming: 10 of 10 generations already saved" in resumed_run.run.log


@pytest.mark.slow
def test_resume_reports_what_the_first_run_did(resumed_run):
    # Same answers, same scores: the resumed results are the first run's (but for the SQL's
    # execution time, a wall-clock measurement that differs on every run).
    resumed_run.run.ok()
    untimed = lambda results: [{k: v for k, v in r.items() if k != "execution_s"} for r in results]  # noqa: E731
    assert untimed(resumed_run.run.results()) == untimed(resumed_run.results_before)


@pytest.fixture(scope="module")
def sampled_run(eval_file, tmp_path_factory) -> Run:
    """Two sampled answers for each of 3 questions."""
    return eval_run(tmp_path_factory.mktemp("sampled") / "S", eval_file, "--limit", "3", "--num-samples", "2",
                    "--no-judge", "--max-new-tokens", "16", "--batch-size", "3")


@pytest.mark.slow
def test_several_samples_give_pass_at_k_and_self_consistency(sampled_run):
    sampled_run.ok()
    metrics, results = sampled_run.metrics(), sampled_run.results()
    assert metrics["n"] == 3 and metrics["num_samples"] == 2
    # pass@k counts a question right when any of its answers is; self-consistency when the
    # majority outcome's answers are: both recomputed here from the saved samples.
    assert metrics["pass_at_k"] == round(sum(any(s["correct"] for s in r["samples"]) for r in results) / 3, 4)
    assert metrics["self_consistency_accuracy"] == round(sum(r["self_consistency_correct"] for r in results) / 3, 4)
    assert metrics["pass_at_k"] >= metrics["execution_accuracy"]


@pytest.mark.slow
def test_several_samples_are_all_saved(sampled_run):
    # Each question keeps both answers, in the results and in the generations file.
    sampled_run.ok()
    results = sampled_run.results()
    assert len(results) == 3
    for r in results:
        assert len(r["samples"]) == 2
        assert all(isinstance(s["raw_output"], str) and s["error_kind"] for s in r["samples"])
        assert r["pass_at_k"] == any(s["correct"] for s in r["samples"])
    lines = [json.loads(line) for line in sampled_run.generations().splitlines()]
    assert [len(g["outputs"]) for g in lines] == [2, 2, 2]


# --------------------------------------------------------------------------------------------
# slow: the judge end to end, through a flaky OpenAI-compatible server on loopback

VERDICT = {"sql_score": 2, "reasoning_score": 2, "format_score": 1, "educational_score": 2, "overall_score": 1.5,
           "explanation": "The answer is cut before any SQL.", "error_type": "no sql"}
VERDICT_USAGE = (17, 9)  # prompt and completion tokens the server reports for each verdict


class FlakyJudgeServer(ThreadingHTTPServer):
    """Answers POST /v1/chat/completions: every second request (the 2nd, 4th, ...) a 500, the
    others a chat completion whose content is VERDICT, with usage. Counts requests and statuses."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FlakyJudgeHandler)
        self.lock = threading.Lock()
        self.statuses: list[int] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        with self.lock:
            return len(self.statuses)


class FlakyJudgeHandler(BaseHTTPRequestHandler):
    server: FlakyJudgeServer

    def log_message(self, format, *args):  # keep the test output clean
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            status = 500 if len(self.server.statuses) % 2 == 1 else 200
            if self.path != "/v1/chat/completions":
                status = 404
            self.server.statuses.append(status)
        if status == 200:
            body = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-judge",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": json.dumps(VERDICT)}}],
                    "usage": {"prompt_tokens": VERDICT_USAGE[0], "completion_tokens": VERDICT_USAGE[1],
                              "total_tokens": sum(VERDICT_USAGE)}}
        else:
            body = {"error": {"message": f"scripted {status}"}}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def judge_server():
    with serving(FlakyJudgeServer(), 0.05) as srv:
        yield srv


@dataclass
class Judged:
    run: Run
    requests: int  # requests the server received during the run


def judged_eval(out: Path, eval_file: Path, server: FlakyJudgeServer, *extra: str) -> Judged:
    before = server.requests
    run = eval_run(out, eval_file, "--limit", "4", "--max-new-tokens", "8", "--batch-size", "4",
                   "--judge-base-url", server.base_url, "--judge-model", "test-judge", *extra)
    return Judged(run, server.requests - before)


@pytest.fixture(scope="module")
def judged_run(eval_file, judge_server, tmp_path_factory) -> Judged:
    """4 questions judged by the flaky server; no OPENAI_API_KEY in the environment."""
    return judged_eval(tmp_path_factory.mktemp("judged") / "J", eval_file, judge_server)


@pytest.fixture(scope="module")
def judged_resume(judged_run, eval_file, judge_server) -> tuple[Judged, bytes]:
    """The same command with --resume; with the generations file as it was before."""
    judged_run.run.ok()
    before = judged_run.run.generations()
    return judged_eval(judged_run.run.out, eval_file, judge_server, "--resume"), before


@pytest.mark.slow
def test_every_sample_gets_a_verdict_despite_server_errors(judged_run, judge_server):
    # Half the requests got a 500; retries still brought every sample a readable verdict.
    judged_run.run.ok()
    results = judged_run.run.results()
    assert len(results) == 4
    assert all(r["judge"]["ok"] and r["judge"]["overall_score"] == VERDICT["overall_score"] for r in results)
    assert 500 in judge_server.statuses  # the retry path was taken, not just the happy one
    assert sum(r["judge"]["attempts"] for r in results) == judged_run.requests


@pytest.mark.slow
def test_the_judge_block_counts_verdicts_requests_and_tokens(judged_run):
    # One 200 per sample carried usage (the 500s carry none): 4 x (17, 9) tokens.
    judged_run.run.ok()
    judge = judged_run.run.metrics()["judge"]
    assert (judge["model"], judge["judged"], judge["failed"]) == ("test-judge", 4, 0)
    assert (judge["prompt_tokens"], judge["completion_tokens"]) == (4 * VERDICT_USAGE[0], 4 * VERDICT_USAGE[1])
    assert judge["requests_sent"] == judged_run.requests
    assert judge["mean"]["overall_score"] == VERDICT["overall_score"]


@pytest.mark.slow
def test_a_resumed_judged_run_sends_no_request_and_generates_nothing(judged_resume):
    # Verdicts come from the cache and answers from generations.jsonl: the server hears nothing.
    resumed, generations_before = judged_resume
    resumed.run.ok()
    assert resumed.requests == 0
    assert resumed.run.generations() == generations_before
    assert all(r["judge"]["ok"] and r["judge"]["cached"] for r in resumed.run.results())
    assert resumed.run.metrics()["judge"]["judged"] == 4


@pytest.mark.slow
def test_without_key_or_url_the_judge_is_skipped_with_one_log_line(resumed_run, eval_file, tmp_path):
    # Judging is on by default; with nothing to talk to, eval still succeeds and says why once.
    # A copy of the base run with --resume: nothing to generate, only the skip is exercised.
    resumed_run.run.ok()
    out = tmp_path / "D"
    shutil.copytree(resumed_run.run.out, out)
    run = eval_run(out, eval_file, "--limit", "10", "--max-new-tokens", "16", "--batch-size", "10", "--resume")
    run.ok()
    assert run.log.count(NO_JUDGE_REASON) == 1
    assert run.metrics()["judge"] is None
    assert all(r["judge"] is None for r in run.results())


# --------------------------------------------------------------------------------------------
# slow: compare and ask


@pytest.mark.slow
def test_compare_writes_the_report_and_prints_every_delta(resumed_run, tmp_path):
    # Run B is run A with one answer's verdict flipped: execution accuracy moves by 10 points,
    # every other rate by none.
    resumed_run.run.ok()
    a, b = resumed_run.run.out, tmp_path / "B"
    shutil.copytree(a, b)
    metrics, results = json.loads((b / METRICS_FILE).read_text()), json.loads((b / RESULTS_FILE).read_text())
    flipped = not results[0]["correct"]
    results[0].update(correct=flipped, error_kind="correct" if flipped else "wrong_result")
    delta = 0.1 if flipped else -0.1
    before = metrics["execution_accuracy"]
    metrics["execution_accuracy"] = round(before + delta, 4)
    metrics["execution_accuracy_count"] += 1 if flipped else -1
    (b / METRICS_FILE).write_text(json.dumps(metrics))
    (b / RESULTS_FILE).write_text(json.dumps(results))

    done = sqlgrpo("compare", str(a), str(b), "--output-dir", str(tmp_path / "C"), cwd=tmp_path,
                   timeout=CLI_TIMEOUT_S)
    assert done.returncode == 0, done.stdout
    assert (tmp_path / "C" / "compare.html").is_file()
    assert re.search(rf"execution_accuracy\s+{100 * before:.1f}% ->\s+{100 * (before + delta):.1f}%\s+"
                     rf"\({re.escape('+' if flipped else '-')}10\.0 points\)", done.stdout), done.stdout
    for key in RATE_KEYS:
        if key != "execution_accuracy":
            assert re.search(rf"^{key}\s.*\(\+0\.0 points\)$", done.stdout, re.MULTILINE), key


@pytest.mark.slow
def test_ask_prints_the_sql_line(tmp_path):
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, species TEXT);\n"
                      "INSERT INTO pets VALUES (1, 'Rex', 'dog'), (2, 'Tom', 'cat');\n", encoding="utf-8")
    done = sqlgrpo("ask", "--model", "embedded", "--schema", str(schema), "--max-new-tokens", "16",
                   "How many pets?", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]
    # The answer's SQL, or "(no SQL found)" from a 16-token answer: the line is there either way.
    assert re.search(r"^sql: \S", done.stdout, re.MULTILINE), done.stdout[-4000:]


@pytest.mark.parametrize(("bf16", "mode", "dtype", "warned"), [
    (True, "bf16-autocast", "bfloat16", False),  # a CPU with AVX512_BF16/AMX: bf16 weights
    (True, "fp32", "float32", True),             # other CPUs: fp32, said so
    (False, "fp32", "float32", False),
    (True, "bf16", "float32", False),            # a GPU: as load_model put it
])
def test_eval_generates_in_bf16_only_where_the_cpu_runs_it(monkeypatch, caplog, bf16, mode, dtype, warned):
    import logging

    import torch

    import sqlgrpo.stages.eval as eval_module

    monkeypatch.setattr(eval_module, "precision", lambda asked: mode if asked else "fp32")
    model = torch.nn.Linear(2, 2)
    model.register_buffer("inv_freq", torch.rand(4))  # as a rotary embedding's: not a weight
    weight, buffer = model.weight.detach().clone(), model.inv_freq.clone()
    with caplog.at_level(logging.INFO, logger="sqlgrpo.stages.eval"):
        with eval_module.in_generation_precision(model, bf16) as out:
            assert str(out.weight.dtype) == f"torch.{dtype}"
            assert out.inv_freq.dtype == torch.float32
    assert ("no bfloat16 instructions" in caplog.text) is warned
    # Given back after generating: the fp32 weights bit for bit, the buffer never touched.
    assert model.weight.dtype == torch.float32 and torch.equal(model.weight, weight)
    assert torch.equal(model.inv_freq, buffer)
