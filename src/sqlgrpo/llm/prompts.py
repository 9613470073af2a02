"""Prompts: the system prompt, the schema shown to the model, and chat messages per record.

Every stage that talks to a model (sft, contrastive, train, eval, ask) builds its prompts here,
so that a model is evaluated on exactly the prompt it was trained on. The answers it is taught
to give are written by `sqlgrpo.scoring.answers.target_answer`.

    >>> msgs = build_messages({"sql_prompt": "How many pets?",
    ...                        "sql_context": "CREATE TABLE pets (id INT); INSERT INTO pets VALUES (1);"})
    >>> [m["role"] for m in msgs]
    ['system', 'user']
    >>> "INSERT" in msgs[1]["content"]
    False
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlgrpo.sql import split_statements, starts_with_keyword

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


def system_prompt(template: str | None = None, backend: str = "sqlite") -> str:
    """The system prompt with `{dialect}` filled in for the backend."""
    return (template or DEFAULT_SYSTEM_PROMPT).replace("{dialect}", DIALECT_NAMES.get(backend, backend))


def schema_text(sql_context: str, include_inserts: bool = False) -> str:
    """The schema shown to the model: the context's CREATE statements (and its INSERT rows only
    when asked: they cost tokens and the answer must not depend on them), one per line."""
    statements = split_statements(sql_context)
    if not include_inserts:
        statements = [s for s in statements if starts_with_keyword(s, "CREATE")]
    return "\n".join(s if s.endswith(";") else s + ";" for s in statements)


def user_message(record: dict, include_inserts: bool = False) -> str:
    return f"Schema:\n{schema_text(record['sql_context'], include_inserts)}\n\nQuestion: {record['sql_prompt']}"


def build_messages(record: dict, *, template: str | None = None, backend: str = "sqlite",
                   include_inserts: bool = False) -> list[dict[str, str]]:
    """The chat messages of one record's prompt (system, then user)."""
    return [{"role": "system", "content": system_prompt(template, backend)},
            {"role": "user", "content": user_message(record, include_inserts)}]


def prompt_token_count(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    """Tokens of the prompt as the chat template renders it, generation prompt included."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # some tokenizers return a BatchEncoding
        ids = ids["input_ids"]
    return len(ids)


def prompt_records(records: Iterable[dict], tokenizer: Any, max_prompt_tokens: int, *, template: str | None = None,
                   backend: str = "sqlite", include_inserts: bool = False) -> tuple[list[dict], int]:
    """Records with a `prompt` field (chat messages), dropping those whose prompt exceeds
    `max_prompt_tokens` (never truncated mid-schema). Returns (kept, number dropped); the drop
    count is logged."""
    kept, dropped = [], 0
    for record in records:
        messages = build_messages(record, template=template, backend=backend, include_inserts=include_inserts)
        if prompt_token_count(tokenizer, messages) > max_prompt_tokens:
            dropped += 1
            continue
        kept.append({**record, "prompt": messages})
    if dropped:
        log.warning("dropped %d of %d prompts longer than %d tokens (schema too long for the budget)",
                    dropped, dropped + len(kept), max_prompt_tokens)
    return kept, dropped

