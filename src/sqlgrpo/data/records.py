"""The one clean record: what `prepare` writes and every later stage reads.

Cleansing turns every source into JSONL lines of the same shape; later stages read only these
fields (and pass the rest through):

- `sql_prompt` (the question), `sql_context` (CREATE TABLE and INSERT statements that build the
  example database), `sql` (the gold query): required, strings;
- `id` (stable and unique: the source's own, else `line-<N>`), `source_line`, `backend`,
  `dialect` (how the gold ran: `as_written` or the flavour it was transpiled from),
  `context_dialect`, `statement_kind` (`select`, `insert`, `update`, `delete`, ...) and the
  source's own fields such as `sql_complexity`: written by `prepare`.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlgrpo.common.errors import SqlgrpoError

REQUIRED_FIELDS = ("sql_prompt", "sql_context", "sql")


class RecordsError(SqlgrpoError, ValueError):
    """A prepared file that is not one; the message names the file, the line and the fix."""


def read_records(path: str | Path, limit: int | None = None) -> list[dict]:
    """Prepared records from a JSONL file (the `prepare` stage's output), at most `limit`.
    A line that is not a JSON object with the required fields is an error naming the file and
    the line: a prepared file never holds one, so the file is the wrong one."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise RecordsError(f"{path}, line {number}: not JSON ({e}); is it a prepared file?") from None
            if not isinstance(record, dict):
                raise RecordsError(f"{path}, line {number}: a JSON {type(record).__name__}, not an object; is it a "
                                   f"prepared file?")
            missing = [k for k in REQUIRED_FIELDS if not isinstance(record.get(k), str)]
            if missing:
                raise RecordsError(f"{path}, line {number}: missing {', '.join(missing)}; prepare the data with "
                                   f"`sqlgrpo prepare` first")
            suite = record.get("test_suite")
            if suite is not None and not (isinstance(suite, list) and all(isinstance(v, str) for v in suite)):
                raise RecordsError(f"{path}, line {number}: field test_suite must be a list of strings (the "
                                   f"variants `sqlgrpo prepare` writes); rerun prepare, or drop the field")
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
    return records
