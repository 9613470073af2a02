"""SQL: running it (the one executor, `sqlgrpo.sql.executor`) and reading it (sqlglot analysis,
`sqlgrpo.sql.analysis`).

The executor's public names are re-exported here, so that callers write
`from sqlgrpo.sql import SQLExecutor, ExecResult`; its module docstring says what it guards and
which module holds what. Modules inside `sqlgrpo.sql` import each other directly, never this
package, so that importing it cannot start a cycle.
"""

from sqlgrpo.sql.dialects import AS_WRITTEN, BACKENDS, FALLBACK_DIALECTS
from sqlgrpo.sql.executor import (QUERY_TIMEOUT_S, ExampleDatabase, SQLExecutor, build_example_db, default_executor,
                                  execute)
from sqlgrpo.sql.guard import MAX_SQL_CHARS, split_statements, starts_with_keyword
from sqlgrpo.sql.result import DML_KINDS, SELECT, ErrorKind, ExecFailure, ExecResult, TableState

__all__ = ["AS_WRITTEN", "BACKENDS", "DML_KINDS", "FALLBACK_DIALECTS", "MAX_SQL_CHARS", "QUERY_TIMEOUT_S", "SELECT",
           "ErrorKind", "ExampleDatabase", "ExecFailure", "ExecResult", "SQLExecutor", "TableState",
           "build_example_db", "default_executor", "execute", "split_statements", "starts_with_keyword"]
