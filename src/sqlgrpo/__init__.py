"""sqlgrpo: fine-tune language models for text-to-SQL with GRPO, rewards computed by running SQL.

Stages (each a `sqlgrpo <stage>` command over this package): prepare, and the ones that build on
it. The SQL executor (`sqlgrpo.sql`) is the only module that opens a database connection.
"""

__version__ = "0.1.0"
