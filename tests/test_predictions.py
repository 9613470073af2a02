"""Scoring predictions made elsewhere: reading Spider's, BIRD's and JSONL files
(`sqlgrpo.scoring.predictions`), matching them with the eval records, and `eval --predictions`
end to end without a model.

The eval file is gretel-like (a CREATE + INSERT context) with `source_index` set by hand as a
benchmark's prepare writes it: the source file had four questions and question 2 was dropped, so
the eval file holds questions 0, 1 and 3, and an official predictions file still has four lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sqlgrpo.scoring.predictions import PredictionsError, align_predictions, parse_predictions, read_predictions
from sqlgrpo.stages.config import resolve
from sqlgrpo.stages.eval import METRICS_FILE, REPORT_FILE, RESULTS_FILE, EvalError, evaluate, source_question_count

VENV_BIN = Path(sys.executable).parent
CLI_TIMEOUT_S = 120  # the command loads no model

PETS = ("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, species TEXT, age INTEGER); "
        "INSERT INTO pets VALUES (1, 'Rex', 'dog', 3), (2, 'Tom', 'cat', 5), (3, 'Bo', 'dog', 8);")


def question(index: int, prompt: str, gold: str, complexity: str) -> dict:
    return {"id": f"dev-{index}", "sql_prompt": prompt, "sql_context": PETS, "sql": gold, "sql_complexity": complexity,
            "benchmark": "spider", "split": "dev", "source_file": "dev.json", "source_index": index, "db_id": "pets"}


# Questions 0, 1 and 3 of the source file (question 2's gold did not run and prepare dropped it).
RECORDS = [question(0, "How many pets are there?", "SELECT COUNT(*) FROM pets", "easy"),
           question(1, "Names of the dogs?", "SELECT name FROM pets WHERE species = 'dog'", "medium"),
           question(3, "Which species are there?", "SELECT DISTINCT species FROM pets", "easy")]
# One answer per question of the source file: right, wrong, (the dropped one), right by Spider only.
ANSWERS = ["SELECT COUNT(id) FROM pets", "SELECT name FROM pets", "SELECT broken FROM nowhere",
           "SELECT species FROM pets"]
CORRECT_BY_OURS = [True, False, False]  # the DISTINCT question: two dogs are not one species
CORRECT_BY_SPIDER = [True, False, True]  # ... unless DISTINCT is removed from both queries


def write_eval_file(folder: Path, records: list[dict] = RECORDS) -> Path:
    path = folder / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def spider_file(folder: Path, answers: list[str] = ANSWERS) -> Path:
    return write(folder / "pred.sql", "".join(a + "\n" for a in answers))


def bird_file(folder: Path, answers: list[str] = ANSWERS, db_id: str = "pets") -> Path:
    return write(folder / "predict_dev.json",
                 json.dumps({str(i): f"{a}\t----- bird -----\t{db_id}" for i, a in enumerate(answers)}))


def run_eval(folder: Path, predictions: Path, eval_file: Path | None = None, **options) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    stage = resolve("eval", overrides={"eval_file": str(eval_file or write_eval_file(folder)),
                                       "output_dir": str(folder / "out"), "predictions": str(predictions),
                                       "judge": False, **options})
    return evaluate(stage, progress=False)


def results(folder: Path) -> list[dict]:
    return json.loads((folder / "out" / RESULTS_FILE).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    """Scoring predictions must never load a model: loading one fails the test."""
    import sqlgrpo.llm.models as models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded to score predictions")

    monkeypatch.setattr(models, "load_model", refuse)


# --- reading each format --------------------------------------------------------------------------

def test_spider_lines_are_questions_in_file_order():
    # Line i answers question i-1; a tab ends the SQL and a db_id may follow; trailing blank lines
    # are no questions; a blank line before the end answers its question with no SQL.
    read = parse_predictions("SELECT 1\n\nSELECT 2\tpets\n\n\n", "pred.sql")
    assert [(k, p.line, p.sql, p.db_id) for k, p in read.by_key.items()] == [
        (0, 1, "SELECT 1", None), (1, 2, "", None), (2, 3, "SELECT 2", "pets")]


def test_spider_lines_end_at_newlines_only():
    # A form feed inside a query is not a line break (str.splitlines would make two questions of it).
    read = parse_predictions("SELECT 1\x0c FROM t\r\nSELECT 2\n", "pred.txt")
    assert [p.sql for p in read.by_key.values()] == ["SELECT 1\x0c FROM t", "SELECT 2"]


def test_bird_values_follow_the_official_reader():
    # With the separator: SQL and db_id; without it: all of it is SQL; not a string: no SQL.
    read = parse_predictions(json.dumps({"0": "SELECT 1\t----- bird -----\tfinancial", "1": " SELECT 2 ", "2": None}),
                             "predict_dev.json")
    assert [(k, p.sql, p.db_id) for k, p in read.by_key.items()] == [
        (0, "SELECT 1", "financial"), (1, "SELECT 2", None), (2, "", None)]


@pytest.mark.parametrize("text, message", [
    # json.loads would silently keep the second; the file is ambiguous.
    ('{"0": "SELECT 1", "0": "SELECT 2"}', 'key "0" appears twice'),
    ('{"first": "SELECT 1"}', 'key "first" is not a question index'),
    ('["SELECT 1"]', "expected a JSON object"),
    ('{"0": "SELECT 1"', "not valid JSON"),
])
def test_bad_bird_files_are_named(text, message):
    with pytest.raises(PredictionsError, match=rf"predict_dev\.json.*{message}"):
        parse_predictions(text, "predict_dev.json")


def test_jsonl_takes_sql_as_it_is_or_a_completion_to_read():
    lines = [{"index": 0, "sql": "SELECT 1"}, {"index": 1, "completion": "<sql>SELECT 2</sql>"},
             {"index": 2, "sql": "SELECT 3", "completion": "<reasoning>r</reasoning><sql>SELECT 9</sql>"}]
    read = parse_predictions("\n".join(json.dumps(line) for line in lines) + "\n", "pred.jsonl")
    # sql: given (text = the SQL); completion only: read later (sql None); both: the SQL answers.
    assert [(p.key, p.text, p.sql) for p in read.by_key.values()] == [
        (0, "SELECT 1", "SELECT 1"), (1, "<sql>SELECT 2</sql>", None), (2, lines[2]["completion"], "SELECT 3")]
    assert read.key == "index"


@pytest.mark.parametrize("lines, message", [
    # Line 3 repeats line 1's index: which answer is meant?
    ([{"index": 0, "sql": "a"}, {"index": 1, "sql": "b"}, {"index": 0, "sql": "c"}],
     r"line 3: \"index\" 0 was given before, on line 1"),
    ([{"index": 0, "sql": "a"}, {"id": "x", "sql": "b"}], r'line 2: keyed by "id" where the lines before'),
    ([{"sql": "a"}], r'line 1: no "index"'),
    ([{"index": -1, "sql": "a"}], r'line 1: "index" is -1'),
    ([{"id": "q", "answer": "a"}], r'line 1: neither "sql" nor "completion"'),
])
def test_bad_jsonl_lines_are_named(lines, message):
    with pytest.raises(PredictionsError, match=rf"pred\.jsonl {message}"):
        parse_predictions("\n".join(json.dumps(line) for line in lines), "pred.jsonl")


def test_an_unknown_extension_lists_the_formats(tmp_path):
    with pytest.raises(PredictionsError, match=r"pred\.csv: unknown predictions format '\.csv'.*\.sql.*\.json.*\.jsonl"):
        read_predictions(write(tmp_path / "pred.csv", "SELECT 1\n"))


# --- matching them with the questions ---------------------------------------------------------

def test_lines_are_matched_by_source_index_so_a_dropped_question_shifts_nothing():
    # Question 3 is answered by line 4, not by line 3 (which answers the dropped question 2).
    found, by = align_predictions(parse_predictions("".join(a + "\n" for a in ANSWERS), "pred.sql"), RECORDS, RECORDS)
    assert by == "source_index"
    assert [p.line for p in found] == [1, 2, 4]


def test_without_source_index_lines_are_matched_by_position():
    plain = [{k: v for k, v in r.items() if k != "source_index"} for r in RECORDS]
    found, by = align_predictions(parse_predictions("a\nb\nc\n", "pred.sql"), plain, plain)
    assert by == "position" and [p.sql for p in found] == ["a", "b", "c"]


def test_a_missing_line_names_the_file_and_the_line():
    # Three lines: question 3 would be on line 4.
    predictions = parse_predictions("a\nb\nc\n", "/data/pred.sql")
    with pytest.raises(PredictionsError, match=r"/data/pred\.sql: no line 4 for question 3 \(eval record 'dev-3'\)"):
        align_predictions(predictions, RECORDS, RECORDS)


def test_an_extra_line_names_the_file_and_the_line():
    # Five lines for a source whose last question the eval file knows is 3: line 5 answers nothing.
    predictions = parse_predictions("a\nb\nc\nd\ne\n", "/data/pred.sql")
    with pytest.raises(PredictionsError, match=r"/data/pred\.sql line 5: an extra line, for question 4"):
        align_predictions(predictions, RECORDS, RECORDS)


def test_the_source_files_question_count_allows_lines_for_dropped_questions(tmp_path):
    # The source file had five questions (the last one dropped too): five lines are right, six
    # are one too many. The count is read from the benchmark folder the records point into.
    folder = tmp_path / "spider"
    (folder / "database" / "pets").mkdir(parents=True)
    write(folder / "dev.json", json.dumps([{"question": f"q{i}"} for i in range(5)]))
    records = [{**r, "db_path": "database/pets/pets.sqlite", "db_file": str(folder / "database/pets/pets.sqlite")}
               for r in RECORDS]
    assert source_question_count(records) == 5
    assert align_predictions(parse_predictions("a\nb\nc\nd\ne\n", "pred.sql"), records, records, 5)[0]
    with pytest.raises(PredictionsError, match=r"line 6: an extra line, for question 5: the source file has 5"):
        align_predictions(parse_predictions("a\nb\nc\nd\ne\nf\n", "pred.sql"), records, records, 5)


def test_jsonl_by_id_names_a_missing_id_and_an_unknown_one():
    # Two of the three ids answered: dev-3 is missing; dev-9 is no record of the eval file.
    text = '{"id": "dev-0", "sql": "a"}\n{"id": "dev-1", "sql": "b"}\n'
    with pytest.raises(PredictionsError, match=r"no line with \"id\": \"dev-3\" for question \"dev-3\""):
        align_predictions(parse_predictions(text, "pred.jsonl"), RECORDS, RECORDS)
    with pytest.raises(PredictionsError, match=r"pred\.jsonl line 3: an extra line, for question \"dev-9\""):
        align_predictions(parse_predictions(text + '{"id": "dev-9", "sql": "c"}\n', "pred.jsonl"), RECORDS, RECORDS)


def test_a_bird_answer_for_another_database_is_refused():
    # Key 3 says it answers a question on `financial`; question 3 is on `pets`: another question set.
    text = json.dumps({str(i): f"{a}\t----- bird -----\t{'financial' if i == 3 else 'pets'}"
                       for i, a in enumerate(ANSWERS)})
    with pytest.raises(PredictionsError, match=r'predict_dev\.json key "3": answers a question on database '
                                               r"'financial', but question 3 .* is on 'pets'"):
        align_predictions(parse_predictions(text, "predict_dev.json"), RECORDS, RECORDS)


def test_index_lines_cannot_answer_two_source_files():
    # Spider's train set is two files, each counting from 0: line 1 would answer two questions.
    mixed = [RECORDS[0], {**RECORDS[1], "source_file": "train_others.json", "source_index": 0}]
    with pytest.raises(PredictionsError, match="dev.json, train_others.json; use JSONL keyed by id"):
        align_predictions(parse_predictions("a\n", "pred.sql"), mixed, mixed)


# --- eval --predictions end to end, without a model ------------------------------------------

def test_eval_scores_a_spider_file_under_each_convention(tmp_path):
    # One sample per question in the eval file's order, each with its correct flag, and metrics
    # that say which comparison made them.
    ours = run_eval(tmp_path / "a", spider_file(tmp_path))
    assert [r["correct"] for r in results(tmp_path / "a")] == CORRECT_BY_OURS
    assert [r["id"] for r in results(tmp_path / "a")] == ["dev-0", "dev-1", "dev-3"]
    spider = run_eval(tmp_path / "b", spider_file(tmp_path), match="spider")
    assert [r["correct"] for r in results(tmp_path / "b")] == CORRECT_BY_SPIDER
    assert (ours["match"], spider["match"]) == ("ours", "spider")
    assert (ours["execution_accuracy_count"], spider["execution_accuracy_count"], spider["n"]) == (1, 2, 3)
    assert spider["predictions"] == {"file": str(tmp_path / "pred.sql"), "format": "spider",
                                     "matched_by": "source_index", "entries": 4, "source_questions": None}
    # The answers are the SQL as given, kept with the question's place in its source file.
    first = results(tmp_path / "b")[0]
    assert (first["extracted_sql"], first["sql_source"], first["source_index"]) == ("SELECT COUNT(id) FROM pets",
                                                                                    "given", 0)


def test_eval_writes_the_same_outputs_as_a_model_run(tmp_path):
    # metrics.json, the report and the summary name the comparison and the predictions file;
    # the rewards are computed as for generated answers.
    run_eval(tmp_path, spider_file(tmp_path), match="bird")
    out = tmp_path / "out"
    metrics = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    assert metrics["n"] == 3 and metrics["match"] == "bird" and "set(predicted rows)" in metrics["match_rule"]
    assert metrics["model"] == "predictions: pred.sql" and metrics["mean_reward"] is not None
    page = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert "bird: official BIRD" in page and "pred.sql (spider format, matched by source_index)" in page
    assert "comparison: bird" in (out / "evaluation_summary.txt").read_text(encoding="utf-8")
    assert (out / "resolved_config.yaml").is_file() and (out / "evaluation_summary.csv").is_file()


def test_eval_scores_a_bird_file(tmp_path):
    # BIRD's set rule: the dogs twice are the same set as the distinct species.
    metrics = run_eval(tmp_path, bird_file(tmp_path), match="bird")
    assert [r["correct"] for r in results(tmp_path)] == [True, False, True]
    assert metrics["predictions"]["format"] == "bird"


def test_eval_scores_jsonl_by_id_with_completions(tmp_path):
    # Full completions keyed by record id, in another order than the eval file: read as model
    # answers (tags), reported in the eval file's order.
    lines = [{"id": "dev-3", "completion": "<reasoning>r</reasoning><sql>SELECT DISTINCT species FROM pets</sql>"},
             {"id": "dev-0", "completion": "SELECT COUNT(*) FROM pets"},
             {"id": "dev-1", "completion": "no idea"}]
    metrics = run_eval(tmp_path, write(tmp_path / "pred.jsonl", "".join(json.dumps(x) + "\n" for x in lines)))
    found = results(tmp_path)
    assert [(r["id"], r["correct"], r["error_kind"]) for r in found] == [
        ("dev-0", True, "correct"), ("dev-1", False, "no_sql"), ("dev-3", True, "correct")]
    assert found[2]["format_strict"] and metrics["predictions"]["matched_by"] == "id"


def test_eval_scores_jsonl_by_index_with_sql(tmp_path):
    # Keyed by the source index like Spider's lines: question 3 gets index 3, not the third entry.
    lines = [{"index": i, "sql": a} for i, a in enumerate(ANSWERS)]
    run_eval(tmp_path, write(tmp_path / "pred.jsonl", "".join(json.dumps(x) + "\n" for x in lines)))
    assert [r["correct"] for r in results(tmp_path)] == CORRECT_BY_OURS


def test_eval_scores_every_question_unless_a_limit_is_given(tmp_path):
    # The eval stage's default --limit (50) is for generation; with predictions it would silently
    # cut a benchmark. Given explicitly, it applies.
    many = [question(i, f"q{i}", "SELECT COUNT(*) FROM pets", "easy") for i in range(60)]
    eval_file = write_eval_file(tmp_path, many)
    pred = write(tmp_path / "pred.sql", "SELECT COUNT(*) FROM pets\n" * 60)
    assert run_eval(tmp_path, pred, eval_file)["n"] == 60
    assert run_eval(tmp_path, pred, eval_file, limit=5)["n"] == 5


def test_eval_with_a_missing_line_fails_naming_it(tmp_path):
    with pytest.raises(EvalError, match=r"pred\.sql: no line 4 for question 3"):
        run_eval(tmp_path, spider_file(tmp_path, ANSWERS[:3]))
    assert not (tmp_path / "out" / METRICS_FILE).exists()


def test_the_cli_scores_predictions_and_names_a_bad_line(tmp_path):
    # The real command: it prints the summary; a fifth line for a four-question source (the eval
    # file's last question is 3) exits 1 with the file and the line.
    eval_file = write_eval_file(tmp_path)
    ok = subprocess.run([str(VENV_BIN / "sqlgrpo"), "eval", "--eval-file", str(eval_file), "--predictions",
                         str(spider_file(tmp_path)), "--match", "spider", "--no-judge", "--output-dir",
                         str(tmp_path / "out")], cwd=tmp_path, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                        env={"PATH": str(VENV_BIN), "HOME": str(tmp_path), "COLUMNS": "400", "HF_HUB_OFFLINE": "1"})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "comparison: spider" in ok.stdout and "execution_accuracy" in ok.stdout
    bad = write(tmp_path / "bad.sql", "".join(a + "\n" for a in ANSWERS + ["SELECT 5"]))
    failed = subprocess.run([str(VENV_BIN / "sqlgrpo"), "eval", "--eval-file", str(eval_file), "--predictions",
                             str(bad), "--no-judge", "--output-dir", str(tmp_path / "bad")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                            env={"PATH": str(VENV_BIN), "HOME": str(tmp_path), "COLUMNS": "400",
                                 "HF_HUB_OFFLINE": "1"})
    assert failed.returncode == 1
    assert f"{bad} line 5: an extra line" in failed.stdout + failed.stderr
