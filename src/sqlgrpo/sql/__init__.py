"""SQL: running it (the one executor, `sqlgrpo.sql.executor`) and reading it (sqlglot analysis,
`sqlgrpo.sql.analysis`).

The executor's public names are re-exported here, so that callers write
`from sqlgrpo.sql import SQLExecutor, ExecResult`; its module docstring says what it guards.
"""

from sqlgrpo.sql.executor import (AS_WRITTEN, BACKENDS, DML_KINDS, MAX_SQL_CHARS, QUERY_TIMEOUT_S, SELECT,
                                  ErrorKind, ExampleDatabase, ExecResult, SQLExecutor, TableState,
                                  build_example_db, default_executor, execute, split_statements,
                                  starts_with_keyword)

__all__ = ["AS_WRITTEN", "BACKENDS", "DML_KINDS", "MAX_SQL_CHARS", "QUERY_TIMEOUT_S", "SELECT", "ErrorKind",
           "ExampleDatabase", "ExecResult", "SQLExecutor", "TableState", "build_example_db", "default_executor",
           "execute", "split_statements", "starts_with_keyword"]
