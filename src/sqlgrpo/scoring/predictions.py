"""Predictions made elsewhere: reading the files `sqlgrpo eval --predictions FILE` scores.

Three formats, told apart by the file's extension:

- Spider's official one (`.sql`, `.txt`): one SQL per line; line i answers question i of the
  source file (line 1: question 0). As in the official `evaluation.py`, a tab ends the SQL (a
  `db_id` after it is checked against the question's). Blank lines at the end are ignored; a
  blank line before them answers its question with no SQL.
- BIRD's (`.json`): `{"0": "SQL\\t----- bird -----\\tdb_id", ...}`, the key being the
  question's index in the source file; a value without the separator is all SQL, and a value
  that is no string is no SQL, as in BIRD's `package_sqls`.
- JSONL (`.jsonl`): one object per line with the question's `index` in the source file or the
  eval record's `id`, and its `sql` (taken as it is) or its whole `completion` (read like a
  generated answer: tags, fence or bare SQL), or both (then the SQL is the answer and the
  completion its raw output).

`read_predictions(path)` is pure: the file in, a mapping from key to `Prediction` out.
`align_predictions` gives each eval record its prediction: by `source_index` when the records
carry it (a question that prepare dropped does not shift the lines), else by position in the
eval file, or by `id`. A missing or extra line, a key given twice, a line of another database:
a `PredictionsError` that names the file and the line.

    >>> spider = parse_predictions("SELECT 1\\nSELECT 2\\tconcert_singer\\n\\n", "pred.sql")
    >>> [(p.key, p.line, p.sql, p.db_id) for p in spider.by_key.values()]
    [(0, 1, 'SELECT 1', None), (1, 2, 'SELECT 2', 'concert_singer')]
    >>> bird = parse_predictions('{"0": "SELECT 1\\\\t----- bird -----\\\\tfinancial"}', "predict_dev.json")
    >>> bird.by_key[0].sql, bird.by_key[0].db_id
    ('SELECT 1', 'financial')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlgrpo.common.errors import SqlgrpoError

SPIDER_FORMAT, BIRD_FORMAT, JSONL_FORMAT = "spider", "bird", "jsonl"
FORMAT_BY_SUFFIX = {".sql": SPIDER_FORMAT, ".txt": SPIDER_FORMAT, ".json": BIRD_FORMAT, ".jsonl": JSONL_FORMAT}
BIRD_SEPARATOR = "\t----- bird -----\t"  # between the SQL and the db_id in BIRD's predictions
BY_INDEX, BY_ID = "index", "id"
MISSING_SHOWN = 3  # missing questions named in the error; the rest are counted


class PredictionsError(SqlgrpoError, ValueError):
    """A predictions file cannot be read or does not answer the eval file's questions."""


@dataclass(frozen=True)
class Prediction:
    """One answer read from the file. `sql` is the SQL as given ("" for none), or None when only
    a completion was given; `text` is the raw output (the completion, else the SQL)."""

    key: int | str
    line: int  # 1-based line of the file (BIRD's JSON: the key's place among the keys)
    text: str
    sql: str | None
    db_id: str | None = None


@dataclass(frozen=True)
class Predictions:
    """A predictions file read: its format, what its keys are (`index` or `id`) and the answers."""

    path: str
    format: str
    key: str
    by_key: dict[int | str, Prediction]

    def place(self, key: int | str) -> str:
        """Where the answer to `key` would be in the file, in the file's own terms."""
        if self.format == SPIDER_FORMAT:
            return f"line {int(key) + 1}"
        if self.format == BIRD_FORMAT:
            return f'key "{key}"'
        return f'line with "{self.key}": {json.dumps(key)}'

    def where(self, prediction: Prediction) -> str:
        """The file and the line (BIRD: the key) a prediction was read from."""
        if self.format == BIRD_FORMAT:
            return f'{self.path} key "{prediction.key}"'
        return f"{self.path} line {prediction.line}"


# --------------------------------------------------------------------------------------------
# Reading

def read_predictions(path: str | Path) -> Predictions:
    """The predictions in a file, by key (see the module docstring for the formats)."""
    p = Path(path)
    _format_of(p)  # an unknown extension fails before the file is read
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PredictionsError(f"cannot read predictions file {p}: {e}") from None
    return parse_predictions(text, p)


def _format_of(path: Path) -> str:
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise PredictionsError(f"{path}: unknown predictions format {path.suffix or '(no extension)'!r}; use .sql or "
                               ".txt (Spider: one SQL per line), .json (BIRD) or .jsonl (index or id, sql or completion)")
    return fmt


def parse_predictions(text: str, path: str | Path) -> Predictions:
    """The predictions in the text of a file named `path` (its extension gives the format)."""
    p = Path(path)
    fmt = _format_of(p)
    if fmt == SPIDER_FORMAT:
        return _read_spider(p, text)
    if fmt == BIRD_FORMAT:
        return _read_bird(p, text)
    return _read_jsonl(p, text)


def _read_spider(path: Path, text: str) -> Predictions:
    # Lines end at "\n" only, as Python's readlines() splits them: a form feed inside a query
    # must not shift the questions after it.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    by_key: dict[int | str, Prediction] = {}
    for number, line in enumerate(lines, 1):
        sql, _, rest = line.strip().partition("\t")
        db_id = rest.split("\t")[0].strip() or None
        by_key[number - 1] = Prediction(number - 1, number, sql, sql, db_id)
    return Predictions(str(path), SPIDER_FORMAT, BY_INDEX, by_key)


def _read_bird(path: Path, text: str) -> Predictions:
    def pairs(items: list[tuple[str, object]]) -> list[tuple[str, object]]:
        return items  # keep duplicates visible: json.loads would keep only the last

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except ValueError as e:
        raise PredictionsError(f"{path}: not valid JSON ({e}); BIRD's format is an object "
                               '{"0": "SQL\\t----- bird -----\\tdb_id", ...}') from None
    if not isinstance(data, list) or any(not isinstance(item, tuple) for item in data):
        raise PredictionsError(f"{path}: expected a JSON object of predictions by question index "
                               '({"0": "SQL\\t----- bird -----\\tdb_id", ...}), got a JSON list')
    by_key: dict[int | str, Prediction] = {}
    for place, (key, value) in enumerate(data, 1):
        index = _index(key)
        if index is None:
            raise PredictionsError(f'{path}: key "{key}" is not a question index (a whole number from 0)')
        if index in by_key:
            raise PredictionsError(f'{path}: key "{key}" appears twice')
        if isinstance(value, str):
            sql, sep, db_id = value.partition(BIRD_SEPARATOR)
            sql, db_id = (sql, db_id.strip() or None) if sep else (value.strip(), None)
        else:
            sql, db_id = "", None  # BIRD's script scores a value that is no string as no SQL
        by_key[index] = Prediction(index, place, sql, sql, db_id)
    return Predictions(str(path), BIRD_FORMAT, BY_INDEX, by_key)


def _index(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _read_jsonl(path: Path, text: str) -> Predictions:
    by_key: dict[int | str, Prediction] = {}
    key_kind = None
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise PredictionsError(f"{where}: not valid JSON ({e})") from None
        if not isinstance(entry, dict):
            raise PredictionsError(f"{where}: expected an object with index or id, and sql or completion")
        kind = BY_INDEX if "index" in entry else BY_ID if "id" in entry else None
        if kind is None:
            raise PredictionsError(f'{where}: no "index" (the question\'s index in the source file) and no "id" '
                                   "(the eval record's id)")
        if key_kind is not None and kind != key_kind:
            raise PredictionsError(f'{where}: keyed by "{kind}" where the lines before are keyed by "{key_kind}"; '
                                   "use one of them throughout")
        key_kind = kind
        key: int | str | None = _index(entry["index"]) if kind == BY_INDEX else _record_id(entry["id"])
        if key is None:
            raise PredictionsError(f'{where}: "{kind}" is {json.dumps(entry[kind])}; expected '
                                   + ("a whole number from 0" if kind == BY_INDEX else "a string or a number"))
        if key in by_key:
            raise PredictionsError(f'{where}: "{kind}" {json.dumps(key)} was given before, on line {by_key[key].line}')
        sql, completion = entry.get("sql"), entry.get("completion")
        if sql is not None and not isinstance(sql, str) or completion is not None and not isinstance(completion, str):
            raise PredictionsError(f'{where}: "sql" and "completion" must be strings (or null)')
        if sql is None and completion is None:
            raise PredictionsError(f'{where}: neither "sql" nor "completion"; give the answer in one of them')
        by_key[key] = Prediction(key, number, completion if completion is not None else sql, sql,
                                 entry.get("db_id") if isinstance(entry.get("db_id"), str) else None)
    return Predictions(str(path), JSONL_FORMAT, key_kind or BY_INDEX, by_key)


def _record_id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value)


# --------------------------------------------------------------------------------------------
# Matching them with the eval records

def record_keys(predictions: Predictions, records: Sequence[dict]) -> tuple[list[int | str], str]:
    """The key of each record in the predictions' terms, and how it was found ("source_index",
    "position" or "id")."""
    if predictions.key == BY_ID:
        return [str(r["id"]) for r in records], BY_ID
    with_index = [isinstance(r.get("source_index"), int) for r in records]
    if any(with_index) and not all(with_index):
        first = with_index.index(False)
        raise PredictionsError(f"{predictions.path}: answers questions by their index, but eval record "
                               f"{records[first].get('id')!r} has no source_index where others have one")
    if not all(with_index) or not records:
        return list(range(len(records))), "position"
    sources = sorted({str(r.get("source_file") or r.get("split") or "") for r in records})
    if len(sources) > 1:
        raise PredictionsError(f"{predictions.path}: answers questions by their index in one source file, but the "
                               f"eval file holds questions of {', '.join(sources)}; use JSONL keyed by id")
    return [r["source_index"] for r in records], "source_index"


def align_predictions(predictions: Predictions, scored: Sequence[dict], all_records: Sequence[dict],
                      question_count: int | None = None) -> tuple[list[Prediction], str]:
    """The prediction of each record of `scored` (records of the eval file, `all_records` being
    the whole file), and how they were matched. A prediction for no question of the source
    file is an extra line: the source has `question_count` questions (by index; when unknown,
    up to the eval file's last), or the eval file's ids (by id). A scored record without one is a
    missing line. Either raises `PredictionsError` naming the file and the line; so does a
    prediction whose db_id is not its question's."""
    keys, matched_by = record_keys(predictions, all_records)
    key_of = {id(r): k for r, k in zip(all_records, keys)}
    if matched_by == BY_ID:
        known = set(keys)
        extra = [p for p in predictions.by_key.values() if p.key not in known]
        bound = "no eval record has that id"
    else:
        count = question_count if question_count is not None else max(keys, default=-1) + 1
        extra = [p for p in predictions.by_key.values() if not 0 <= int(p.key) < count]
        bound = (f"the source file has {count} questions" if question_count is not None
                 else f"the eval file's last question is number {count - 1}")
    if extra:
        first = min(extra, key=lambda p: p.line)
        more = f" ({len(extra) - 1} more such)" if len(extra) > 1 else ""
        raise PredictionsError(f"{predictions.where(first)}: an extra line, for question "
                               f"{json.dumps(first.key)}: {bound}{more}")
    wanted = [key_of.get(id(r)) for r in scored]
    if any(k is None for k in wanted):  # scored records not taken from all_records: match them on their own
        wanted, _ = record_keys(predictions, scored)
    missing = [(r, k) for r, k in zip(scored, wanted) if k not in predictions.by_key]
    if missing:
        named = "; ".join(f"no {predictions.place(k)} for question {json.dumps(k)} (eval record {r.get('id')!r})"
                          for r, k in missing[:MISSING_SHOWN])
        more = f"; {len(missing) - MISSING_SHOWN} more questions have no answer" if len(missing) > MISSING_SHOWN else ""
        raise PredictionsError(f"{predictions.path}: {named}{more}")
    found = [predictions.by_key[k] for k in wanted]
    for record, p in zip(scored, found):
        if p.db_id and record.get("db_id") and p.db_id != record["db_id"]:
            raise PredictionsError(f"{predictions.where(p)}: answers a question on database {p.db_id!r}, "
                                   f"but question {json.dumps(p.key)} (eval record {record.get('id')!r}) is on "
                                   f"{record['db_id']!r}: the file answers another set of questions")
    return found, matched_by
