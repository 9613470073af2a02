"""Shared pytest fixtures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

# The shared sample lives beside the project (/work/shared next to /work/main), not inside it:
# tests/ -> project root -> its parent.
SHARED_GRETEL_SAMPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "gretel_sample_train.jsonl"
)


@pytest.fixture
def shared_gretel_path() -> Path:
    """900 real rows of gretelai/synthetic_text_to_sql; skips where the shared folder is absent."""
    if not SHARED_GRETEL_SAMPLE.is_file():
        pytest.skip(f"shared gretel sample not found at {SHARED_GRETEL_SAMPLE}")
    return SHARED_GRETEL_SAMPLE


@pytest.fixture
def runs(monkeypatch) -> Counter:
    """Every SQL text run on an example database, counted (gold and answers alike)."""
    from sqlgrpo.scoring import rewards
    from sqlgrpo.sql import ExampleDatabase

    counted: Counter = Counter()
    real_run = ExampleDatabase.run

    def spy(self, sql, **kwargs):
        counted[sql] += 1
        return real_run(self, sql, **kwargs)

    rewards.clear_caches()  # the gold is run (once) inside the measured call, not before it
    monkeypatch.setattr(ExampleDatabase, "run", spy)
    return counted
