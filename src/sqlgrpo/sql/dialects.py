"""SQL flavours: the one list of dialects that SQL is read in when it does not run as written.

Datasets such as gretel mix PostgreSQL and MySQL; the executor transpiles a failing text from
these (in this order) into the backend's dialect, and sqlglot analysis parses a text in the
backend's dialect, then in these.
"""

from __future__ import annotations

BACKENDS = ("sqlite", "duckdb")
FALLBACK_DIALECTS = ("postgres", "mysql")  # the flavours datasets such as gretel mix
