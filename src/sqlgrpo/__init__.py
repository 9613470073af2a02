"""sqlgrpo: fine-tune language models for text-to-SQL with GRPO, rewards computed by running SQL.

One package whose folders are its layers, each importing only those below it (see
docs/architecture.md): `common`, `data` (datasets and the clean record), `sql` (the one executor
and sqlglot analysis), `scoring` (the one verdict, metrics and rewards built on it), `llm`
(models, generation, prompts), `report`, `stages` (one module per `sqlgrpo <stage>` command) and
`cli`. The executor (`sqlgrpo.sql`) is the only place that opens a database connection.
"""

__version__ = "0.1.0"
