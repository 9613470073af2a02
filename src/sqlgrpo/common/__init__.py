"""The foundation every layer may use: default paths, file writing, caches, text helpers, errors.

Nothing here knows about SQL, models or stages.
"""
