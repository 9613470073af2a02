"""The answer format, both ways: reading a completion (its reasoning, its SQL, whether it keeps
the format) and writing an answer in it for a gold or a near-miss.

The format is `<reasoning>…</reasoning>` then `<sql>…</sql>`. SQL is taken from the `<sql>`
tags, else from a fenced ```sql block, else from a bare statement, so a model that has not
learned the tags still gets an execution signal; only the format checks insist on them. Reading
is linear in the text and never raises, whatever the completion holds.

    >>> parse_answer("<reasoning>count them</reasoning><sql>SELECT COUNT(*) FROM t</sql>").sql
    'SELECT COUNT(*) FROM t'
    >>> is_strict_format("<reasoning>r</reasoning><sql>SELECT 1</sql>"), soft_format_score("<sql>SELECT 1</sql>")
    (True, 0.5)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlgrpo.sql import default_executor
from sqlgrpo.sql.analysis import parse_any, references_any, statement_kinds

SOFT_FORMAT_PART = 0.25  # each of: reasoning block, sql block, in order, non-empty SQL
MAX_COMPLETION_CHARS = 200_000  # beyond this a completion is cut before any scanning

# --------------------------------------------------------------------------------------------
# Reading a completion


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or TRL's chat format (a list of messages, or one
    message dict), whose assistant contents are joined. Anything else gives ""."""
    if isinstance(completion, str):
        text = completion
    elif isinstance(completion, dict):
        text = completion.get("content") if isinstance(completion.get("content"), str) else ""
    elif isinstance(completion, (list, tuple)):
        parts = []
        for message in completion:
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant" \
                    and isinstance(message.get("content"), str):
                parts.append(message["content"])
        text = "\n".join(parts)
    else:
        text = ""
    return text[:MAX_COMPLETION_CHARS]


@dataclass(frozen=True)
class ParsedAnswer:
    """What a completion contains, found in one linear pass over its text."""

    text: str
    reasoning: str | None
    sql: str | None
    sql_source: str  # "tags", "fence", "bare" or "none"


_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite|postgresql|postgres|mysql)?[ \t]*\n(.*?)```", re.IGNORECASE | re.DOTALL)
# A bare statement starts at a SQL keyword; WITH only when a CTE follows ("with the table" is prose).
_BARE_START = re.compile(
    r"(?:^|[\s(])((?:SELECT|INSERT|UPDATE|DELETE)\b|WITH\s+(?:RECURSIVE\s+)?[\w\"`]+\s*(?:\([^()]{0,500}\)\s*)?AS\s*\()",
    re.IGNORECASE)


def _between(text: str, lower: str, open_tag: str, close_tag: str) -> str | None:
    """The content of the first open_tag…close_tag pair (or to the end when unclosed)."""
    start = lower.find(open_tag)
    if start < 0:
        return None
    start += len(open_tag)
    end = lower.find(close_tag, start)
    return text[start:] if end < 0 else text[start:end]


def parse_answer(completion: Any) -> ParsedAnswer:
    """Reasoning and SQL of a completion: `<sql>` tags, else a fenced block, else a bare
    statement (from the first SQL keyword to the end of the paragraph). Linear in the text."""
    text = completion_text(completion)
    lower = text.lower()
    reasoning = _between(text, lower, "<reasoning>", "</reasoning>")
    sql = _between(text, lower, "<sql>", "</sql>")
    source = "tags"
    if sql is not None:
        sql = _strip_fence(sql)
    if sql is None or not sql.strip():
        source, sql = "none", None
        fence = _FENCE.search(text) if "```" in text else None
        if fence is not None and fence.group(1).strip():
            source, sql = "fence", fence.group(1)
        else:
            bare = _BARE_START.search(text)
            if bare is not None:
                rest = text[bare.start(1):]
                cut = rest.find("\n\n")  # prose usually follows after a blank line
                source, sql = "bare", rest if cut < 0 else rest[:cut]
    if sql is not None:
        sql = sql.strip()
        sql = sql or None
    return ParsedAnswer(text, reasoning.strip() if reasoning is not None else None, sql,
                        source if sql is not None else "none")


def _strip_fence(sql: str) -> str:
    """`<sql>```sql …```</sql>`: models sometimes fence inside the tags."""
    if "```" not in sql:
        return sql
    m = _FENCE.search(sql if sql.lstrip().startswith("```") else sql)
    return m.group(1) if m else sql.replace("```", "")


def extract_sql(completion: Any) -> str | None:
    """The SQL of a completion, or None.

    >>> extract_sql("<reasoning>count</reasoning><sql>SELECT 1;</sql>")
    'SELECT 1;'
    >>> extract_sql("Here it is:\\n```sql\\nSELECT 2\\n```")
    'SELECT 2'
    >>> extract_sql("The answer is SELECT 3 FROM t") is None
    False
    """
    return parse_answer(completion).sql


# --------------------------------------------------------------------------------------------
# Format

_TAGS = ("<reasoning>", "</reasoning>", "<sql>", "</sql>")


def _tag_positions(lower: str) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = {}
    for tag in _TAGS:
        found, start = [], 0
        while len(found) < 2:  # one occurrence is right; a second already means "repeated"
            i = lower.find(tag, start)
            if i < 0:
                break
            found.append(i)
            start = i + len(tag)
        positions[tag] = found
    return positions


def is_strict_format(completion: Any) -> bool:
    """Exactly `<reasoning>…</reasoning>` then `<sql>…</sql>`, each tag once, both non-empty,
    nothing but whitespace outside them."""
    text = completion_text(completion)
    lower = text.lower()
    pos = _tag_positions(lower)
    if any(len(p) != 1 for p in pos.values()):
        return False
    r_open, r_close, s_open, s_close = (pos[t][0] for t in _TAGS)
    if not r_open < r_close < s_open < s_close:
        return False
    return (not text[:r_open].strip() and not text[r_close + len("</reasoning>"):s_open].strip()
            and not text[s_close + len("</sql>"):].strip()
            and bool(text[r_open + len("<reasoning>"):r_close].strip())
            and bool(text[s_open + len("<sql>"):s_close].strip()))


def soft_format_score(completion: Any) -> float:
    """Partial credit, a quarter each: a closed reasoning block, a closed sql block, reasoning
    before sql, non-empty SQL inside the tags."""
    lower = completion_text(completion).lower()
    pos = _tag_positions(lower)
    score = 0.0
    has_reasoning = bool(pos["<reasoning>"]) and bool(pos["</reasoning>"]) and pos["<reasoning>"][0] < pos["</reasoning>"][0]
    has_sql = bool(pos["<sql>"]) and bool(pos["</sql>"]) and pos["<sql>"][0] < pos["</sql>"][0]
    if has_reasoning:
        score += SOFT_FORMAT_PART
    if has_sql:
        score += SOFT_FORMAT_PART
    if has_reasoning and has_sql and pos["</reasoning>"][0] < pos["<sql>"][0]:
        score += SOFT_FORMAT_PART
    if has_sql and lower[pos["<sql>"][0] + len("<sql>"):pos["</sql>"][0]].strip():
        score += SOFT_FORMAT_PART
    return score




# --------------------------------------------------------------------------------------------
# Writing an answer

DML_PHRASES = {"insert": "an INSERT", "update": "an UPDATE", "delete": "a DELETE"}


def target_answer(sql: str, sql_context: str, backend: str = "sqlite") -> str:
    """An answer in the training format for `sql`: a short reasoning built from the tables and
    columns the query uses (read through sqlglot scopes), then the SQL. The supervised warm-up
    learns from it, the preference stage contrasts the gold's with a near-miss's, and the reward
    audit scores exactly these answers."""
    db = default_executor(backend).database(sql_context)
    schema = db.schema if db.ok else {}
    refs = references_any(sql, backend, schema)
    tables = sorted(refs.tables) if refs and refs.tables else sorted(schema)
    columns = sorted(f"{t}.{c}" for t, c in refs.columns) if refs else []
    noun = "table" if len(tables) == 1 else "tables"
    reasoning = f"The question is answered from the {', '.join(tables) or 'schema'} {noun}."
    if columns:
        reasoning += f" The query needs the columns {', '.join(columns)}."
    dml = next((kind for kind in _statement_kinds(sql, sql_context, backend) if kind in DML_PHRASES), None)
    if dml is not None:
        reasoning += f" It is {DML_PHRASES[dml]} that changes the stored rows, as the request asks."
    else:
        reasoning += " It selects only the rows and values the question asks about."
    return f"<reasoning>\n{reasoning}\n</reasoning>\n<sql>\n{sql.strip()}\n</sql>"


def _statement_kinds(sql: str, sql_context: str, backend: str) -> tuple[str, ...]:
    """The kinds of a text's statements from sqlglot, or from the engine when sqlglot cannot
    parse the text (a MySQL-only INSERT still is an INSERT)."""
    trees = parse_any(sql, backend)
    if trees:
        return statement_kinds(trees)
    return default_executor(backend).run(sql, sql_context).statement_kinds
