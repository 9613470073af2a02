"""The `ask` command: one question about a schema, answered by a model (and an adapter).

    sqlgrpo ask --schema shop.sql [--adapter outputs/train/final_adapter] "How many orders?"

The schema file holds CREATE TABLE statements and, optionally, INSERT rows; when it holds rows,
the answer's SQL is run on them (through the one executor, with its limits) and the rows shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.common.files import json_safe
from sqlgrpo.scoring.answers import parse_answer
from sqlgrpo.sql import default_executor
from sqlgrpo.stages.config import DEFAULT_MODEL

SHOWN_ROWS = 20  # rows printed under the answer: a question's answer, not a table dump


class AskError(SqlgrpoError, RuntimeError):
    """The question cannot be asked; the message names the input."""


def read_schema(path: str | Path) -> str:
    """The schema file's text; a clear error when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AskError(f"cannot read schema file {path}: {e}") from None


def ask(question: str, schema: str, *, model: str | None = None, adapter: str | None = None,
        backend: str = "sqlite", max_new_tokens: int = 256, system_prompt: str | None = None) -> dict:
    """One answer to one question about a schema, with its SQL run on the schema when it holds
    data (INSERT rows). `model` defaults to the adapter's base model, else `DEFAULT_MODEL`."""
    from sqlgrpo.llm.generation import generate_answers
    from sqlgrpo.llm.models import load_model, model_name_of_adapter
    from sqlgrpo.llm.prompts import build_messages

    model = model or (model_name_of_adapter(adapter) if adapter else None) or DEFAULT_MODEL
    llm, tokenizer = load_model(model, adapter=adapter, merge=True)
    record = {"sql_prompt": question, "sql_context": schema}
    gen = generate_answers(llm, tokenizer, [build_messages(record, template=system_prompt, backend=backend)],
                           max_new_tokens=max_new_tokens)[0][0]
    answer = parse_answer(gen.text)
    result: dict[str, Any] = {"raw_output": gen.text, "reasoning": answer.reasoning, "sql": answer.sql,
                              "tokens": gen.new_tokens, "seconds": round(gen.seconds, 2)}
    if answer.sql:
        run = default_executor(backend).run(answer.sql, schema)
        result.update({"ok": run.ok, "error": run.error, "columns": list(run.columns),
                       "rows": [list(map(json_safe, r)) for r in run.rows[:SHOWN_ROWS]]})
    return result
