"""Writing outputs so that a kill never leaves half a file, and reading JSON back.

Every output a later run reads (prepared data, metrics, reports, summaries, caches, resolved
configs) is written through `atomic_writer`: into a temporary file beside the target, renamed
over it only once complete. A reader sees the old file or the new one, never a mix. The
temporary name carries the process and thread, so two writers of one target do not collide; the
last rename wins.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "metrics.json"
    >>> _ = write_json(out, {"n": 3})
    >>> read_json(out)
    {'n': 3}
    >>> read_json(out.with_name("missing.json")) is None
    True
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_writer(path: str | Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A text file (UTF-8) that replaces `path` when the block ends without an error; on an
    error the temporary file is removed and `path` is left as it was. Parent folders are made."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline=newline) as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (see `atomic_writer`); returns the path."""
    with atomic_writer(path) as f:
        f.write(text)
    return Path(path)


def write_json(path: str | Path, value: Any, *, indent: int | None = 2) -> Path:
    """`value` as JSON (ASCII, so a lone surrogate from the input is escaped, not a write error),
    written atomically. Values JSON does not know (paths, dates) are written as their text."""
    return atomic_write_text(path, json.dumps(value, indent=indent, ensure_ascii=True, default=str) + "\n")


def write_jsonl(path: str | Path, records: Iterable[Any]) -> Path:
    """One JSON object per line, streamed into the temporary file, renamed into place at the end."""
    with atomic_writer(path) as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=True) + "\n")
    return Path(path)


def read_json(path: str | Path) -> Any:
    """The JSON value in `path`, or None when the file is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def json_safe(value: Any) -> Any:
    """A result value as JSON can hold it: numbers, strings, booleans and null as they are,
    bytes as their length, anything else (dates, decimals, lists from DuckDB) as its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    return str(value)
