"""The judge's rubric: what an LLM judge is asked about a text-to-SQL answer, and how its
answer is read.

The judge model sees the question, the schema, the gold SQL and the model's full raw output, and
answers with JSON scores: `sql_score`, `reasoning_score`, `format_score` and `educational_score`
(integers 1-5), `overall_score` (1-5, may be fractional), an `explanation` and a free-text
`error_type`. `SCORE_FIELDS` is the one list of these dimensions (the eval metrics and the
reports read it from here). `sqlgrpo.scoring.judge` sends the requests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

# Part of every cache key: bump it whenever the prompt or the parsing changes, so verdicts given
# under the old rubric are not reused for the new one.
RUBRIC_VERSION = "1"

INTEGER_SCORE_FIELDS = ("sql_score", "reasoning_score", "format_score", "educational_score")
OVERALL_SCORE_FIELD = "overall_score"
SCORE_FIELDS = INTEGER_SCORE_FIELDS + (OVERALL_SCORE_FIELD,)
SCORE_MIN, SCORE_MAX = 1, 5

# A runaway generation (the model repeating itself to its token limit) would cost judge tokens
# without telling the judge anything more; the head of it shows the failure just as well.
MAX_OUTPUT_CHARS = 8000
# 408 and 429 say "later", 5xx "something broke on the server": worth another try. Every other
# parse_verdict tries a JSON object starting at each "{" of a prose answer; this bounds the work on
# a long answer full of braces (each try is a linear scan).
MAX_JSON_STARTS = 64
# How much of an unreadable answer goes into the error message: enough to see what went wrong.


SYSTEM_PROMPT = """\
You are a strict, fair grader of text-to-SQL answers written by a model that is learning SQL.
You are given a question, the database schema, a correct reference (gold) SQL query, and the
model's full raw output. The model was asked to explain its reasoning inside <reasoning> tags and
then give one SQL query inside <sql> tags.

Score the output on these criteria, each an integer from 1 (worst) to 5 (best):
- sql_score: does the model's SQL return the same result as the gold query on any data? Equivalent
  SQL written differently scores 5; a wrong table, column, join, filter, grouping or aggregate
  scores low; invalid SQL or no SQL at all scores 1.
- reasoning_score: is the reasoning correct, relevant to the schema and question, and does it
  lead to the SQL written? Missing reasoning scores 1.
- format_score: does the output follow the requested format (reasoning in <reasoning> tags, then
  exactly one query in <sql> tags, nothing else)?
- educational_score: would the output help a learner understand how to answer this question in SQL?
Then give overall_score, a number from 1 to 5 for the answer as a whole (correctness weighs most),
a short explanation (one to three sentences), and error_type: "none" if the SQL is correct,
otherwise a few words naming the main mistake (for example "wrong filter", "wrong join",
"wrong aggregate", "syntax error", "no sql").

Answer with exactly one JSON object and nothing else, with exactly these keys:
{"sql_score": <1-5>, "reasoning_score": <1-5>, "format_score": <1-5>, "educational_score": <1-5>,
 "overall_score": <1-5>, "explanation": "<text>", "error_type": "<text>"}"""

USER_PROMPT_TEMPLATE = """\
Question:
{question}

Database schema:
{context}

Gold SQL:
{gold}

Model output (everything the model wrote, between the markers):
<<<OUTPUT
{output}
OUTPUT>>>

Grade the model output. Answer with the JSON object only."""


@dataclass
class JudgeVerdict:
    """One sample's verdict. `ok` False means no readable verdict after retries (see `error`):
    its scores are None, never a made-up value."""

    ok: bool
    sql_score: int | None = None
    reasoning_score: int | None = None
    format_score: int | None = None
    educational_score: int | None = None
    overall_score: float | None = None
    explanation: str = ""
    error_type: str = ""
    error: str = ""
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)



# ------------------------------------------------------------------------------------------
# Reading the judge's answer

_FENCED_BLOCK = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
# "4", "4.0", " 4 / 5 ": a number, optionally "out of" a scale.
_NUMERIC_TEXT = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*$")


def parse_verdict(text: str) -> dict | None:
    """The verdict in a judge's answer as a dict of the rubric's fields, or None if unreadable.

    Tolerant of what judge models write: the JSON may sit in a ```json fence or amid prose; keys
    may use any case, spaces or hyphens ("SQL Score", "overall-score"); scores may be ints,
    floats or numeric strings ("4", "4/5"); extra keys are ignored. Unreadable: no JSON object,
    a missing score, or a score outside 1-5 (a 0 or 7 means the judge did not follow the rubric,
    and clamping it would invent a score).

    >>> parse_verdict('Verdict: {"SQL Score": "4/5", "reasoning-score": 3, "format_score": 5,'
    ...               ' "educational_score": 4, "Overall Score": 3.5, "explanation": "ok"}')["sql_score"]
    4
    >>> parse_verdict("no json here") is None
    True
    """
    if not isinstance(text, str) or not text.strip():
        return None
    for candidate in _json_objects(text):
        verdict = _verdict_from_object(candidate)
        if verdict is not None:
            return verdict
    return None


def _json_objects(text: str):
    """Every JSON object found in `text`, most likely first: fenced blocks, the whole text, then
    objects starting at each "{"."""
    pieces = [m.group(1) for m in _FENCED_BLOCK.finditer(text)] + [text]
    for piece in pieces:
        try:
            value = json.loads(piece)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value
    decoder = json.JSONDecoder()
    start = text.find("{")
    tries = 0
    while start != -1 and tries < MAX_JSON_STARTS:
        tries += 1
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            yield value
        start = text.find("{", start + 1)


def _normalized_key(key: Any) -> str:
    return re.sub(r"[\s\-_]+", "_", str(key).strip().lower())


def _verdict_from_object(obj: dict) -> dict | None:
    by_key = {_normalized_key(k): v for k, v in obj.items()}
    verdict: dict[str, Any] = {}
    for name in SCORE_FIELDS:
        score = score_value(by_key.get(name))
        if score is None:
            return None
        if name in INTEGER_SCORE_FIELDS:
            # The rubric asks for integers; a judge that writes 3.5 still said "between 3 and 4",
            # so round half up rather than throwing the whole verdict away.
            score = int(math.floor(score + 0.5))
        verdict[name] = score
    verdict["explanation"] = _text_value(by_key.get("explanation"))
    verdict["error_type"] = _text_value(by_key.get("error_type"))
    return verdict


def score_value(value: Any) -> float | None:
    """A score in 1..5 as a float, or None if missing, not a number, or out of range."""
    if isinstance(value, bool):  # bool is an int in Python, but true/false is no score
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _NUMERIC_TEXT.match(value)
        if match is None:
            return None
        number = float(match.group(1))
        scale = match.group(2)
        if scale is not None and float(scale) != SCORE_MAX:
            return None  # "8/10" is on another scale; converting it would be a guess
    else:
        return None
    if not math.isfinite(number) or not SCORE_MIN <= number <= SCORE_MAX:
        return None
    return number


def _text_value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)



def build_judge_messages(sample: dict) -> list[dict[str, str]]:
    """The chat messages (system, user) that ask the judge about one sample."""
    output = output_text(sample["output"])
    if len(output) > MAX_OUTPUT_CHARS:
        cut = len(output) - MAX_OUTPUT_CHARS
        output = f"{output[:MAX_OUTPUT_CHARS]}\n[... {cut} more characters not shown]"
    user = USER_PROMPT_TEMPLATE.format(
        question=str(sample["question"]).strip(),
        context=str(sample["context"]).strip(),
        gold=str(sample["gold"]).strip(),
        output=output,
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def output_text(output: Any) -> str:
    """The model's raw output as text: a string as is; a chat-message list as its contents."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in output)
    return "" if output is None else str(output)


# ------------------------------------------------------------------------------------------
# Summaries


def judge_metrics(verdicts: list[dict], judge_model: str, usage: dict | None = None) -> dict:
    """The judge block of metrics.json: how many samples have a readable verdict, the mean and
    the distribution (1..5) of every dimension over them, and the tokens spent."""
    ok = [v for v in verdicts if v.get("ok")]
    mean = {d: round(sum(v[d] for v in ok) / len(ok), 3) if ok else None for d in SCORE_FIELDS}
    distribution = {d: {str(i): sum(1 for v in ok if v.get(d) is not None and round(v[d]) == i)
                        for i in range(SCORE_MIN, SCORE_MAX + 1)} for d in SCORE_FIELDS}
    usage = usage or {}
    return {"model": judge_model, "judged": len(ok), "failed": len(verdicts) - len(ok), "mean": mean,
            "distribution": distribution, "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0)}
