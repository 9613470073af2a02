"""The `audit-rewards` command: the reward audit (`sqlgrpo.scoring.audit`) on a dataset.

    sqlgrpo audit-rewards [--data FILE] [--limit N] [--backend sqlite] [--no-build-suites] [--output FILE.json]

The data is anything `prepare --input` reads; by default the prepared training file when it
exists, else the embedded sample. Prepared rows bring their own test suites; raw rows get one
built here (about 40 rows/s per core) unless `build_suites` is off.
"""

from __future__ import annotations

from sqlgrpo.common import paths
from sqlgrpo.data.sources import load_source
from sqlgrpo.scoring.audit import audit_rewards


def audit_source(data: str | None = None, *, limit: int | None = None, backend: str = "sqlite",
                 build_suites: bool = True, progress: bool = True) -> dict:
    """The audit report of a dataset (its source and options included); a source that cannot
    be read raises `sqlgrpo.data.sources.SourceError`."""
    if data is None:
        train = paths.default_train_file()
        data = str(train) if train.is_file() else "embedded"
    loaded = load_source(data, limit=limit)
    return {"source": data, "options": {"data": data, "limit": limit, "backend": backend, "build_suites": build_suites},
            **audit_rewards(loaded.records, backend, build_suites=build_suites, progress=progress)}
