"""Reports: statistics of runs and their differences, charts, self-contained HTML pages, and the
tables the command line prints. Inputs are plain dicts (metrics.json, results); nothing here runs
SQL or a model.
"""
