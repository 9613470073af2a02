"""Default locations shared by every stage.

Prepared data goes to `data/`, a stage's outputs to `outputs/<stage>/`, both relative to the
working directory and overridable per command (`--output-dir`) or for every stage through the
environment (`SQLGRPO_DATA_DIR`, `SQLGRPO_OUTPUT_ROOT`). Converted models are cached under
`SQLGRPO_CACHE_DIR` (default `~/.cache/sqlgrpo`).
"""

from __future__ import annotations

import os
from pathlib import Path

TRAIN_FILE_NAME = "cleaned_train_queries.jsonl"
EVAL_FILE_NAME = "cleaned_eval_queries.jsonl"
PREPARE_REPORT_NAME = "prepare_report.json"


def data_dir() -> Path:
    """Where `prepare` writes and later stages read the cleaned records."""
    return Path(os.environ.get("SQLGRPO_DATA_DIR", "data"))


def output_dir(stage: str) -> Path:
    """The default output folder of one stage, e.g. `outputs/train`."""
    return Path(os.environ.get("SQLGRPO_OUTPUT_ROOT", "outputs")) / stage


def cache_dir() -> Path:
    """Where converted model checkpoints are cached between runs."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sqlgrpo"
    return Path(os.environ.get("SQLGRPO_CACHE_DIR", default))


def default_train_file() -> Path:
    return data_dir() / TRAIN_FILE_NAME


def default_eval_file() -> Path:
    return data_dir() / EVAL_FILE_NAME
