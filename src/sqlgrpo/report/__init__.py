"""Reports: statistics of runs and their differences, charts, self-contained HTML pages, and the
tables the command line prints. Inputs are plain dicts (metrics.json, results); nothing here runs
SQL or a model.

The modules, each importing only those above it:

- `stats`: the metrics a report shows, how numbers are written, the 95% intervals of a difference
  between two runs, `metric_deltas` (a comparison as plain data) and `comparison_sentences`.
- `charts`: matplotlib figures as PNG data URIs (bar charts, `render_training_curves`,
  `render_loss_curves`); pyplot is imported on the first chart.
- `html`: CSS, the failure filter's JavaScript, escaping, cells and the shared delta table, and
  `write_page`, which writes a page atomically.
- `eval_page` (`render_eval_report`), `compare_page` (`render_compare_report`) and `demo_page`
  (`render_demo_report`): one page each.
"""
