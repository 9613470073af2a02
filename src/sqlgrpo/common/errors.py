"""The base of every error a user can fix.

A stage that meets bad input (a missing file, a wrong config value, an adapter folder that is not
one) raises a subclass of `SqlgrpoError` whose message names the input and what would fix it.
The command line prints that message and exits with status 1, the same way for every stage; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class SqlgrpoError(Exception):
    """Bad input or a run that cannot go on; the message says which input and what to change."""
