"""Prompts: the system prompt, the schema shown to the model, and chat messages per record.

Every stage that talks to a model (sft, contrastive, train, eval, ask) builds its prompts here,
so that a model is evaluated on exactly the prompt it was trained on. The answers it is taught
to give are written by `sqlgrpo.scoring.answers.target_answer`.

The schema comes from the record's context. A text context (CREATE + INSERT statements) shows
its CREATE statements. A database file (Spider, BIRD: `sqlgrpo.sql.database_files`) shows the
CREATE statements stored in the file, read through the executor, each followed by a few example
values per column as BIRD and OmniSQL prompts do (`example_values`); read once per database and
cached. When a file's schema does not fit the prompt budget, `prompt_records` shortens it by
`SHORTENING_RULE` instead of dropping the record; a text context's prompt is dropped as before.

    >>> msgs = build_messages({"sql_prompt": "How many pets?",
    ...                        "sql_context": "CREATE TABLE pets (id INT); INSERT INTO pets VALUES (1);"})
    >>> [m["role"] for m in msgs]
    ['system', 'user']
    >>> "INSERT" in msgs[1]["content"]
    False
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlgrpo.common.cache import LRUCache
from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.text import squeeze
from sqlgrpo.sql import default_executor, split_statements, starts_with_keyword
from sqlgrpo.sql.database_files import context_file

log = logging.getLogger(__name__)

DIALECT_NAMES = {"sqlite": "SQLite", "duckdb": "DuckDB"}

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert data analyst who writes {dialect} SQL.\n"
    "Given a database schema and a question, first explain which tables and columns answer the "
    "question and how, then write one {dialect} query that answers it.\n"
    "Respond in exactly this format:\n"
    "<reasoning>\n"
    "...which tables and columns answer the question, and how...\n"
    "</reasoning>\n"
    "<sql>\n"
    "SELECT ...;\n"
    "</sql>"
)

DEFAULT_EXAMPLE_VALUES = 3  # distinct values shown per column of a database file (0: none): they
# tell the model a column's format ('2012-03-01', 'M'/'F'), as BIRD's and OmniSQL's prompts do;
# they are the first thing dropped when a schema is too long
EXAMPLE_VALUE_MAX_CHARS = 40  # a longer value (a description, a URL) is cut and marked
EXAMPLE_TRUNCATION_MARKER = "..."
EXAMPLE_SCAN_ROWS = 10_000  # example values come from a column's first rows only: a column of one
# repeated value in a BIRD table of millions of rows would otherwise be scanned whole
EXAMPLE_QUERY_TIMEOUT_S = 1.0  # a column whose values do not come back in time shows none
SCHEMA_CACHE_SIZE = 256  # databases whose schema text is kept (Spider has ~200, BIRD train ~70)
TABLE_SEPARATOR = "\n\n"  # a file's CREATE statements span lines; a blank line tells tables apart

SCHEMA_QUERY = "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%'"
SHORTENING_RULE = (
    "tables named in the question first, then tables with a column named in it, then the rest, each "
    "group in the file's order (names matched case-insensitively as whole words, underscores read as "
    "spaces, a plural -s/-es allowed); example values dropped first, then whole tables from the end "
    "until the prompt fits; a CREATE statement is never cut, and a prompt that does not fit with one "
    "table is dropped"
)


class PromptError(SqlgrpoError, ValueError):
    """A record's database file cannot be read for its prompt."""


def system_prompt(template: str | None = None, backend: str = "sqlite") -> str:
    """The system prompt with `{dialect}` filled in for the backend."""
    return (template or DEFAULT_SYSTEM_PROMPT).replace("{dialect}", DIALECT_NAMES.get(backend, backend))


@dataclass(frozen=True)
class SchemaTable:
    """One table (or view) of a database file as the prompt shows it."""

    name: str
    create: str  # the CREATE statement stored in the file, ending in ';'
    columns: tuple[str, ...]
    examples: tuple[str, ...] = ()  # one comment line per column with values

    def text(self, with_examples: bool = True) -> str:
        return "\n".join((self.create, *self.examples)) if with_examples and self.examples else self.create


def schema_text(sql_context: str, include_inserts: bool = False, *,
                example_values: int = DEFAULT_EXAMPLE_VALUES) -> str:
    """The schema shown to the model.

    A text context: its CREATE statements (and its INSERT rows only when asked: they cost tokens
    and the answer must not depend on them), one per line. A database file: the CREATE statements
    stored in it, in the file's order, each followed by up to `example_values` example values per
    column (`include_inserts` does not apply: a file's rows are not shown).
    """
    if context_file(sql_context) is not None:
        return tables_text(schema_tables(sql_context, example_values))
    statements = split_statements(sql_context)
    if not include_inserts:
        statements = [s for s in statements if starts_with_keyword(s, "CREATE")]
    return "\n".join(s if s.endswith(";") else s + ";" for s in statements)


def tables_text(tables: Sequence[SchemaTable], with_examples: bool = True) -> str:
    """The schema text of these tables, in the order given."""
    return TABLE_SEPARATOR.join(t.text(with_examples) for t in tables)


_SCHEMA_TABLES = LRUCache(SCHEMA_CACHE_SIZE)


def schema_tables(sql_context: str, example_values: int = DEFAULT_EXAMPLE_VALUES) -> tuple[SchemaTable, ...]:
    """The tables and views of a context's database in the file's order, read through the
    executor; cached per (context, example_values), since thousands of questions share one
    database. Raises `PromptError` when the database cannot be opened."""
    return _SCHEMA_TABLES.get_or_compute((sql_context, example_values),
                                         lambda: _read_tables(sql_context, example_values))


def _read_tables(sql_context: str, example_values: int) -> tuple[SchemaTable, ...]:
    # Files run on SQLite only (DuckDB cannot read them with its extensions off), whatever the backend.
    db = default_executor("sqlite").database(sql_context)
    result = db.run(SCHEMA_QUERY) if db.ok else None
    if result is None or not result.ok:
        where = context_file(sql_context) or "the context"
        raise PromptError(f"cannot read the schema of {where} for the prompt: "
                          f"{db.error if result is None else result.error}; check that the file exists "
                          "and is an SQLite database (or run prepare again with the right --db-root)")
    columns = db.schema
    tables = []
    for kind, name, sql in result.rows:
        if not sql:
            continue
        create = sql.strip()
        cols = tuple(columns.get(name, ()))
        examples = _example_lines(db, name, cols, example_values) if kind == "table" and example_values > 0 else ()
        tables.append(SchemaTable(name, create if create.endswith(";") else create + ";", cols, examples))
    return tuple(tables)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _example_lines(db: Any, table: str, columns: Sequence[str], limit: int) -> tuple[str, ...]:
    lines = []
    for column in columns:
        col = _quote(column)
        result = db.run(f"SELECT DISTINCT {col} FROM (SELECT {col} FROM {_quote(table)} LIMIT {EXAMPLE_SCAN_ROWS}) "
                        f"WHERE {col} IS NOT NULL LIMIT {int(limit)}", timeout_s=EXAMPLE_QUERY_TIMEOUT_S)
        if result.ok and result.rows:
            name = column if re.fullmatch(r"[A-Za-z_]\w*", column) else col
            lines.append(f"-- example values of {name}: " + ", ".join(example_value(v) for (v,) in result.rows))
    return tuple(lines)


def example_value(value: object) -> str:
    """One example value as the prompt shows it: on one line, long text cut with a marker.

    >>> example_value("Joe's\\nbar"), example_value(3.5), example_value(b"\\x00\\x01")
    ("'Joe''s bar'", '3.5', '<blob of 2 bytes>')
    >>> example_value("x" * 50)[-5:]
    "x...'"
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<blob of {len(bytes(value))} bytes>"
    if not isinstance(value, str):
        return str(value)
    text = squeeze(value)  # a newline would end the comment line and leave the rest as SQL
    if len(text) > EXAMPLE_VALUE_MAX_CHARS:
        text = text[:EXAMPLE_VALUE_MAX_CHARS] + EXAMPLE_TRUNCATION_MARKER
    return "'" + text.replace("'", "''") + "'"


def _words(text: str) -> str:
    """Lowercased words of a text (or name), underscores and punctuation read as spaces, padded."""
    return " " + " ".join(re.findall(r"[^\W_]+", text.lower())) + " "


def _named(name: str, question_words: str) -> bool:
    words = _words(name).strip()
    return bool(words) and any(f" {words}{plural} " in question_words for plural in ("", "s", "es"))


def question_order(tables: Sequence[SchemaTable], question: str) -> list[SchemaTable]:
    """The tables in the order `SHORTENING_RULE` keeps them for this question."""
    words = _words(question)

    def rank(item: tuple[int, SchemaTable]) -> tuple[int, int]:
        index, table = item
        if _named(table.name, words):
            return 0, index
        return (1 if any(_named(c, words) for c in table.columns) else 2), index

    return [t for _, t in sorted(enumerate(tables), key=rank)]


def user_message(record: dict, include_inserts: bool = False, *, example_values: int = DEFAULT_EXAMPLE_VALUES,
                 schema: str | None = None) -> str:
    """The user turn: the schema (`schema_text` of the record's context unless given) and the question."""
    if schema is None:
        schema = schema_text(record["sql_context"], include_inserts, example_values=example_values)
    return f"Schema:\n{schema}\n\nQuestion: {record['sql_prompt']}"


def build_messages(record: dict, *, template: str | None = None, backend: str = "sqlite",
                   include_inserts: bool = False, example_values: int = DEFAULT_EXAMPLE_VALUES,
                   schema: str | None = None) -> list[dict[str, str]]:
    """The chat messages of one record's prompt (system, then user)."""
    return [{"role": "system", "content": system_prompt(template, backend)},
            {"role": "user", "content": user_message(record, include_inserts, example_values=example_values,
                                                     schema=schema)}]


def prompt_token_count(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    """Tokens of the prompt as the chat template renders it, generation prompt included."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # some tokenizers return a BatchEncoding
        ids = ids["input_ids"]
    return len(ids)


def shortened_messages(record: dict, fits: Callable[[list[dict[str, str]]], bool], *, template: str | None = None,
                       backend: str = "sqlite",
                       example_values: int = DEFAULT_EXAMPLE_VALUES) -> list[dict[str, str]] | None:
    """The messages of a database-file record with its schema shortened by `SHORTENING_RULE`
    until `fits` accepts them; None when even one table does not fit."""
    ordered = question_order(schema_tables(record["sql_context"], example_values), record["sql_prompt"])

    def with_tables(n: int) -> list[dict[str, str]]:
        return build_messages(record, template=template, backend=backend,
                              schema=tables_text(ordered[:n], with_examples=False))

    if not ordered:
        return None
    whole = with_tables(len(ordered))  # the usual case: the example values were the excess
    if fits(whole):
        return whole
    # Fewer tables, fewer tokens: search the most tables that fit, tokenizing O(log n) prompts.
    best, low, high = None, 1, len(ordered) - 1
    while low <= high:
        middle = (low + high) // 2
        messages = with_tables(middle)
        if fits(messages):
            best, low = messages, middle + 1
        else:
            high = middle - 1
    return best


def prompt_records(records: Iterable[dict], tokenizer: Any, max_prompt_tokens: int, *, template: str | None = None,
                   backend: str = "sqlite", include_inserts: bool = False,
                   example_values: int = DEFAULT_EXAMPLE_VALUES) -> tuple[list[dict], int]:
    """Records with a `prompt` field (chat messages) that fits `max_prompt_tokens`.

    A text context's prompt that is too long is dropped (never truncated mid-schema). A database
    file's is shortened by `SHORTENING_RULE` (whole CREATE statements only) and dropped only when
    one table does not fit. Returns (kept, number dropped); the drop count, the shortened count
    and the rule are logged once.
    """
    kept, dropped, shortened = [], 0, 0

    def fits(messages: list[dict[str, str]]) -> bool:
        return prompt_token_count(tokenizer, messages) <= max_prompt_tokens

    for record in records:
        messages = build_messages(record, template=template, backend=backend, include_inserts=include_inserts,
                                  example_values=example_values)
        if not fits(messages):
            if context_file(record["sql_context"]) is None:
                messages = None
            else:
                messages = shortened_messages(record, fits, template=template, backend=backend,
                                              example_values=example_values)
                if messages is not None:
                    shortened += 1
            if messages is None:
                dropped += 1
                continue
        kept.append({**record, "prompt": messages})
    if shortened:
        log.info("shortened the schema of %d of %d prompts to fit %d tokens: %s", shortened,
                 dropped + len(kept), max_prompt_tokens, SHORTENING_RULE)
    if dropped:
        log.warning("dropped %d of %d prompts longer than %d tokens (schema too long for the budget)",
                    dropped, dropped + len(kept), max_prompt_tokens)
    return kept, dropped
