"""SQL: running it (the one executor, `sqlgrpo.sql.executor`, on contexts and on database files
named by `file_context`) and reading it (sqlglot analysis, `sqlgrpo.sql.analysis`).

The executor's public names are re-exported here, so that callers write
`from sqlgrpo.sql import SQLExecutor, ExecResult`; its module docstring says what it guards and
which module holds what. Modules inside `sqlgrpo.sql` import each other directly, never this
package, so that importing it cannot start a cycle.
"""

from sqlgrpo.sql.database_files import context_file, file_context, is_sqlite_file
from sqlgrpo.sql.dialects import AS_WRITTEN, BACKENDS, FALLBACK_DIALECTS
from sqlgrpo.sql.executor import (GOLD_TIMEOUT_S, QUERY_TIMEOUT_S, ExampleDatabase, SQLExecutor, build_example_db, default_executor,
                                  execute)
from sqlgrpo.sql.file_engine import MAX_FILE_COPY_BYTES
from sqlgrpo.sql.guard import MAX_SQL_CHARS, split_statements, starts_with_keyword
from sqlgrpo.sql.result import DML_KINDS, SELECT, ErrorKind, ExecFailure, ExecResult, TableState

__all__ = ["AS_WRITTEN", "BACKENDS", "DML_KINDS", "FALLBACK_DIALECTS", "MAX_FILE_COPY_BYTES", "MAX_SQL_CHARS",
           "GOLD_TIMEOUT_S", "QUERY_TIMEOUT_S", "SELECT", "ErrorKind", "ExampleDatabase", "ExecFailure", "ExecResult", "SQLExecutor",
           "TableState", "build_example_db", "context_file", "default_executor", "execute", "file_context",
           "is_sqlite_file", "split_statements", "starts_with_keyword"]
