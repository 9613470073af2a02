"""Tests of the schema a prompt shows (sqlgrpo.llm.prompts): read from a database file (CREATE
statements, example values), shortened to the prompt budget by the stated rule; text contexts
unchanged.

Database files are tiny SQLite files written here with the standard `sqlite3` module. Budgets use
`WordTokenizer` (one token per whitespace-separated word), so that a test can state exactly how
many tokens a schema takes; one slow test repeats the shortening with the embedded model's
tokenizer.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from sqlgrpo.llm.prompts import (
    EXAMPLE_TRUNCATION_MARKER,
    EXAMPLE_VALUE_MAX_CHARS,
    SHORTENING_RULE,
    TABLE_SEPARATOR,
    PromptError,
    build_messages,
    prompt_records,
    prompt_token_count,
    question_order,
    schema_tables,
    schema_text,
    tables_text,
)
from sqlgrpo.sql.database_files import file_context

LOGGER = "sqlgrpo.llm.prompts"

# The CREATE statements are stored as written, comments and line breaks included: the prompt
# shows them so.
CONCERT_SCRIPT = """
CREATE TABLE stadium (
    Stadium_ID INTEGER PRIMARY KEY,
    Location TEXT,  -- the city
    Capacity INTEGER
);
CREATE TABLE singer (Singer_ID INTEGER PRIMARY KEY, Name TEXT, Age INTEGER);
CREATE INDEX stadium_capacity ON stadium (Capacity);
CREATE VIEW old_singers AS SELECT Name FROM singer WHERE Age > 40;
INSERT INTO stadium VALUES (1, 'Raith', 4000), (2, 'Ayr', 5000);
INSERT INTO singer VALUES (1, 'Joe Sharp', 52), (2, 'Timbaland', 32), (3, NULL, 29), (4, 'Timbaland', 41),
                          (5, 'Justin Brown', 25), (6, 'Rose White', 41);
"""
STADIUM_CREATE = """CREATE TABLE stadium (
    Stadium_ID INTEGER PRIMARY KEY,
    Location TEXT,  -- the city
    Capacity INTEGER
);"""
SINGER_CREATE = "CREATE TABLE singer (Singer_ID INTEGER PRIMARY KEY, Name TEXT, Age INTEGER);"
VIEW_CREATE = "CREATE VIEW old_singers AS SELECT Name FROM singer WHERE Age > 40;"

FILLER_TABLES = 12


class WordTokenizer:
    """Counts one token per whitespace-separated word of the messages, plus one for the
    generation prompt: enough for `prompt_token_count`, and exact to reason about."""

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=True):
        words = [w for m in messages for w in m["content"].split()]
        return words + (["<assistant>"] if add_generation_prompt else [])


def _database(tmp_path: Path, script: str, name: str = "db") -> str:
    """The context of a new SQLite file built from `script`."""
    path = tmp_path / name / f"{name}.sqlite"
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return file_context(path)


def _tokens(record: dict, **kwargs) -> int:
    return prompt_token_count(WordTokenizer(), build_messages(record, **kwargs))


def _schema_of(messages: list[dict]) -> str:
    user = messages[1]["content"]
    return user[len("Schema:\n"):user.index("\n\nQuestion: ")]


@pytest.fixture
def concert(tmp_path) -> str:
    return _database(tmp_path, CONCERT_SCRIPT, "concert")


@pytest.fixture
def wide(tmp_path) -> str:
    """A BIRD-like database: filler tables first in the file, then the ones a question names."""
    fillers = "".join(f"CREATE TABLE filler_{i} (f{i}_a INTEGER, f{i}_b TEXT, f{i}_c REAL);\n"
                      f"INSERT INTO filler_{i} VALUES ({i}, 'v{i}', {i}.5);\n" for i in range(FILLER_TABLES))
    return _database(tmp_path, fillers + """
CREATE TABLE venue (Venue_ID INTEGER PRIMARY KEY, Name TEXT);
CREATE TABLE singer (Singer_ID INTEGER PRIMARY KEY, Country TEXT);
CREATE TABLE concert (Concert_ID INTEGER PRIMARY KEY, Venue_ID INTEGER, Year INTEGER);
CREATE TABLE singer_in_concert (Concert_ID INTEGER, Singer_ID INTEGER);
INSERT INTO venue VALUES (1, 'Hampden');
INSERT INTO singer VALUES (1, 'France');
INSERT INTO concert VALUES (1, 1, 2014);
""", "wide")


WIDE_QUESTION = "List the names of the places where singers from France gave a concert."
# singer (plural "singers") and concert are named: first, in the file's order; venue has a column
# named in the question ("names"): next; singer_in_concert's name as words ("singer in concert")
# is not in the question, nor are any of its columns: with the fillers, in the file's order.
WIDE_ORDER = ["singer", "concert", "venue", *[f"filler_{i}" for i in range(FILLER_TABLES)], "singer_in_concert"]


def test_file_schema_is_the_stored_create_statements(concert):
    # Tables and views as stored in the file, in its order, each a whole statement; the index
    # and the rows are not part of the schema.
    assert schema_text(concert, example_values=0) == TABLE_SEPARATOR.join([STADIUM_CREATE, SINGER_CREATE, VIEW_CREATE])


def test_file_prompt_shows_the_file_schema(concert):
    # The prompt of a file record is built from the file, not from the context's text (a comment).
    messages = build_messages({"sql_prompt": "How many singers?", "sql_context": concert}, example_values=0)
    assert messages[1]["content"] == f"Schema:\n{schema_text(concert, example_values=0)}\n\nQuestion: How many singers?"
    assert "sqlgrpo database file" not in messages[1]["content"]


def test_example_values_appear_when_asked(concert):
    # Up to 3 distinct non-NULL values per column, one line per column after its table's CREATE,
    # in the order SQLite reads them (here the table's, singer having no index): 'Timbaland'
    # twice and the NULL name are not repeated or shown.
    assert schema_text(concert, example_values=3).split(TABLE_SEPARATOR)[1] == "\n".join([
        SINGER_CREATE, "-- example values of Singer_ID: 1, 2, 3",
        "-- example values of Name: 'Joe Sharp', 'Timbaland', 'Justin Brown'", "-- example values of Age: 52, 32, 29"])


def test_no_example_values_when_not_asked(concert):
    # example_values=0 shows the statements alone; a view never gets values (its query would run).
    assert "example values" not in schema_text(concert, example_values=0)
    assert VIEW_CREATE + "\n--" not in schema_text(concert, example_values=3)


def test_long_example_value_is_cut_with_a_marker_on_one_line(tmp_path):
    # A multi-line value would end the comment and leave SQL behind; a long one would cost tokens.
    long_value = "line one\nline two " + "x" * 100
    ctx = _database(tmp_path, "CREATE TABLE notes (\"note text\" TEXT);"
                              f"INSERT INTO notes VALUES ('{long_value}'), ('it''s');")
    line = schema_text(ctx, example_values=3).splitlines()[-1]
    shown = "line one line two " + "x" * (EXAMPLE_VALUE_MAX_CHARS - len("line one line two "))
    # The column name has a space: it is quoted as SQL quotes it.
    assert line == f"-- example values of \"note text\": '{shown}{EXAMPLE_TRUNCATION_MARKER}', 'it''s'"


def test_schema_is_read_once_per_database_and_options(concert):
    # Thousands of questions share a database: the second call is the cached tables; other
    # options are read separately.
    assert schema_tables(concert, 3) is schema_tables(concert, 3)
    assert schema_tables(concert, 0) is not schema_tables(concert, 3)


def test_missing_database_file_is_an_error_naming_it(tmp_path):
    # An empty schema would silently ask the model about nothing.
    missing = tmp_path / "gone" / "gone.sqlite"
    with pytest.raises(PromptError, match=str(missing)):
        schema_text(file_context(missing))


def test_question_order_puts_the_question_tables_first(wide):
    assert [t.name for t in question_order(schema_tables(wide, 0), WIDE_QUESTION)] == WIDE_ORDER


def test_question_order_reads_underscores_as_spaces(wide):
    # "singer in concert" names singer_in_concert; singer and concert are named too, and keep
    # the file's order among the named.
    order = [t.name for t in question_order(schema_tables(wide, 0), "List each Singer in Concert 1.")]
    assert order[:3] == ["singer", "concert", "singer_in_concert"]


def test_schema_fitting_the_budget_is_kept_whole(wide):
    # At exactly the full prompt's length nothing is shortened: file order, example values kept.
    record = {"sql_prompt": WIDE_QUESTION, "sql_context": wide}
    budget = _tokens(record)
    kept, dropped = prompt_records([record], WordTokenizer(), budget)
    assert (dropped, _schema_of(kept[0]["prompt"])) == (0, schema_text(wide))


def test_example_values_are_dropped_before_tables(wide):
    # Room for every table without its values: all tables stay, in the rule's order, no values.
    record = {"sql_prompt": WIDE_QUESTION, "sql_context": wide}
    budget = _tokens(record, example_values=0)
    assert _tokens(record) > budget  # the values alone are the excess
    kept, _ = prompt_records([record], WordTokenizer(), budget)
    shown = _schema_of(kept[0]["prompt"])
    assert shown == tables_text(question_order(schema_tables(wide, 0), WIDE_QUESTION))
    assert "example values" not in shown


def test_long_schema_keeps_the_question_tables_whole_and_logs_the_rule(wide, caplog):
    # A budget with room for three tables: the question's three, each CREATE whole, the rest gone.
    record = {"sql_prompt": WIDE_QUESTION, "sql_context": wide}
    ordered = question_order(schema_tables(wide, 0), WIDE_QUESTION)
    budget = prompt_token_count(WordTokenizer(), build_messages(record, schema=tables_text(ordered[:3])))
    caplog.set_level(logging.INFO, logger=LOGGER)
    kept, dropped = prompt_records([record, dict(record)], WordTokenizer(), budget)
    assert dropped == 0
    for k in kept:
        assert _schema_of(k["prompt"]).split(TABLE_SEPARATOR) == [t.create for t in ordered[:3]]
        assert prompt_token_count(WordTokenizer(), k["prompt"]) <= budget
    rule_logs = [r.getMessage() for r in caplog.records if SHORTENING_RULE in r.getMessage()]
    assert len(rule_logs) == 1 and "shortened the schema of 2 of 2 prompts" in rule_logs[0]


def test_one_token_short_keeps_one_table_fewer(wide):
    # Whole statements only: a budget just below three tables' prompt keeps two, never a cut third.
    record = {"sql_prompt": WIDE_QUESTION, "sql_context": wide}
    ordered = question_order(schema_tables(wide, 0), WIDE_QUESTION)
    budget = prompt_token_count(WordTokenizer(), build_messages(record, schema=tables_text(ordered[:3]))) - 1
    kept, _ = prompt_records([record], WordTokenizer(), budget)
    assert _schema_of(kept[0]["prompt"]) == tables_text(ordered[:2])


def test_prompt_not_fitting_with_one_table_is_dropped_and_counted(wide, caplog):
    # Below the first table's prompt nothing fits: dropped as a text context's prompt is.
    record = {"sql_prompt": WIDE_QUESTION, "sql_context": wide}
    ordered = question_order(schema_tables(wide, 0), WIDE_QUESTION)
    budget = prompt_token_count(WordTokenizer(), build_messages(record, schema=tables_text(ordered[:1]))) - 1
    caplog.set_level(logging.INFO, logger=LOGGER)
    kept, dropped = prompt_records([record], WordTokenizer(), budget)
    assert (kept, dropped) == ([], 1)
    assert "dropped 1 of 1 prompts" in caplog.text and SHORTENING_RULE not in caplog.text


TEXT_RECORD = {"sql_prompt": "How many pets are older than 3?",
               "sql_context": "CREATE TABLE pets (id INT, age INT); INSERT INTO pets VALUES (1, 4); "
                              "CREATE TABLE owners (id INT)"}


def test_text_context_prompt_is_unchanged():
    # Its CREATE statements one per line, a semicolon added where missing; no example values.
    assert build_messages(TEXT_RECORD)[1]["content"] == (
        "Schema:\nCREATE TABLE pets (id INT, age INT);\nCREATE TABLE owners (id INT);\n\n"
        "Question: How many pets are older than 3?")
    assert schema_text(TEXT_RECORD["sql_context"], include_inserts=True).splitlines()[1] == \
        "INSERT INTO pets VALUES (1, 4);"


def test_too_long_text_context_is_dropped_not_shortened(caplog):
    # Text contexts keep today's rule: a prompt over the budget is dropped whole.
    budget = _tokens(TEXT_RECORD) - 1
    caplog.set_level(logging.INFO, logger=LOGGER)
    kept, dropped = prompt_records([TEXT_RECORD], WordTokenizer(), budget)
    assert (kept, dropped) == ([], 1)
    assert SHORTENING_RULE not in caplog.text


@pytest.mark.slow
def test_shortening_with_the_embedded_tokenizer(wide):
    # The same rule under a real chat template: the prompt fits and starts with the question's tables.
    from transformers import AutoTokenizer

    from sqlgrpo.llm.models import embedded_checkpoint_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_checkpoint_dir())
    record = {"sql_prompt": WIDE_QUESTION, "sql_context": wide}
    budget = prompt_token_count(tokenizer, build_messages(record, example_values=0)) - 1  # not every table fits
    kept, dropped = prompt_records([record], tokenizer, budget)
    assert dropped == 0 and prompt_token_count(tokenizer, kept[0]["prompt"]) <= budget
    shown = _schema_of(kept[0]["prompt"]).split(TABLE_SEPARATOR)
    ordered = question_order(schema_tables(wide, 0), WIDE_QUESTION)
    assert shown == [t.create for t in ordered[:len(shown)]] and len(shown) < len(ordered)
