"""The pieces every report page is made of: the CSS, the failure filter's JavaScript, escaping,
the page scaffolding, text and code cells, the delta table that the compare and demo pages share,
and `write_page`, which writes a finished page to disk atomically.

Each report is one HTML file that works offline: inline CSS, a few lines of inline JavaScript for
the failure filter, and plots embedded as base64 PNG images (`sqlgrpo.report.charts`), so it can
be attached to a CI run or opened on a laptop without the run folder.

Everything in the inputs that came from a dataset or a model (questions, SQL, raw outputs, error
messages, judge explanations, and ids and class names too) is untrusted: it goes into a page only
through `escape` (or `text_cell`, which escapes it too).

    >>> escape('<b title="x">')
    '&lt;b title=&quot;x&quot;&gt;'
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlgrpo.common.files import atomic_write_text
from sqlgrpo.common.text import squeeze
from sqlgrpo.report.stats import (MISSING, Delta, Metric, delta_class, format_delta, format_interval, kind_label,
                                  within_noise)

log = logging.getLogger(__name__)

LONG_TEXT_CHARS = 140  # longer texts (and multi-line ones) are folded into <details>
LONG_TEXT_LINES = 3
LONG_CODE_CHARS = 400  # SQL reads best unfolded: fold only what would make a row a page tall
LONG_CODE_LINES = 10
PREVIEW_CHARS = 70  # the <summary> line of a folded text
MAX_TEXT_CHARS = 6000  # a runaway model output must not make the page unloadable
MAX_TABLE_ROWS = 2000  # failure and flip tables: beyond this the browser filter gets sluggish

COLOR_BETTER = "#1a7f37"  # .better in CSS
COLOR_WORSE = "#cf222e"  # .worse in CSS

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2328;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:17px;margin:0 0 12px}
h3{font-size:14px;margin:14px 0 8px}
section{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:16px 18px;margin:16px 0}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
.meta dt{color:#59636e}.meta dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(175px,1fr));gap:10px}
.card{border:1px solid #d8dee4;border-radius:6px;padding:10px 12px;background:#fafbfc;display:flex;flex-direction:column;justify-content:space-between}
.card .label{color:#59636e;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.card .value{font-size:24px;font-weight:600}
.card .count{color:#59636e;font-size:13px;font-weight:400}
.card.main{border-color:#3b6fb6;background:#f0f5fc}
.card .sub{color:#59636e;font-size:12px;margin-top:2px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px;align-items:start}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e5e8eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600;font-size:13px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:#8b949e}
.note{color:#59636e;font-size:13px;margin:8px 0 0}
.warn{background:#fff8e1;border:1px solid #f0d58c;border-radius:6px;padding:8px 12px;margin:10px 0 0}
.better{color:#1a7f37;font-weight:600}.worse{color:#cf222e;font-weight:600}.same{color:#59636e}
.noise{opacity:.55;font-weight:400}
.verdict{white-space:nowrap}
.tag{display:inline-block;border-radius:10px;padding:0 7px;font-size:12px;background:#eaeef2;white-space:nowrap}
.tag.k-correct{background:#dafbe1}.tag.k-wrong_result{background:#fff1cc}
.tag.k-shown_data_only{background:#f3e8ff;box-shadow:inset 0 0 0 1px #8250df;color:#5a32a3}
tr.shown-data-only td:first-child{box-shadow:inset 3px 0 0 #8250df}
pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.txt{overflow-wrap:anywhere}
details summary{cursor:pointer;color:#3b6fb6;overflow-wrap:anywhere}
details[open] summary{margin-bottom:4px}
details.group{margin:10px 0}details.group>summary{font-weight:600;font-size:14px;color:#1f2328;margin-bottom:8px}
details.sub{margin-top:6px}details.sub summary{font-size:12px}
table.samples{table-layout:fixed;font-size:13px}
table.samples td{overflow-wrap:anywhere}
.filters{display:flex;gap:10px;align-items:center;margin:0 0 10px;flex-wrap:wrap}
.filters input{flex:1;min-width:220px;padding:6px 8px;border:1px solid #d0d7de;border-radius:6px;font:inherit}
.filters select{padding:6px 8px;border:1px solid #d0d7de;border-radius:6px;font:inherit}
"""

FILTER_JS = """
(function () {
  var text = document.getElementById('failure-text');
  var kind = document.getElementById('failure-kind');
  var shown = document.getElementById('failure-shown');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#failures tbody tr'));
  function apply() {
    var query = text.value.toLowerCase(), wanted = kind.value, visible = 0;
    rows.forEach(function (row) {
      var ok = (!wanted || row.getAttribute('data-kind') === wanted) &&
               (!query || row.textContent.toLowerCase().indexOf(query) >= 0);
      row.style.display = ok ? '' : 'none';
      if (ok) { visible += 1; }
    });
    shown.textContent = visible + ' of ' + rows.length + ' shown';
  }
  text.addEventListener('input', apply);
  kind.addEventListener('change', apply);
  apply();
})();
"""


# --- cells -----------------------------------------------------------------------------------

def escape(value: Any) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def html_document(title: str, body: str, script: str = "") -> str:
    """The whole page: `body` inside <main>, the CSS inline, `script` (if any) at the end."""
    script_tag = f"<script>{script}</script>" if script else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main>{script_tag}</body></html>\n")


def img(uri: str, alt: str) -> str:
    """An image of a data URI (`sqlgrpo.report.charts`)."""
    return f'<img src="{uri}" alt="{escape(alt)}">'


def meta_list(items: Iterable[tuple[str, Any]]) -> str:
    """A <dl> of (name, value) pairs, a missing or empty value shown as "–"."""
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(MISSING if v is None or v == '' else v)}</dd>" for k, v in items)
    return f'<dl class="meta">{rows}</dl>'


def _truncated(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[:MAX_TEXT_CHARS] + f"\n… ({len(text) - MAX_TEXT_CHARS} more characters not shown)"


def _is_long(text: str, code: bool) -> bool:
    if code:
        return len(text) > LONG_CODE_CHARS or text.count("\n") >= LONG_CODE_LINES
    return len(text) > LONG_TEXT_CHARS or text.count("\n") >= LONG_TEXT_LINES


def _preview(text: str) -> str:
    line = squeeze(text)
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def text_cell(value: Any, *, code: bool = False) -> str:
    """A cell of untrusted text: escaped, cut at MAX_TEXT_CHARS, folded when long."""
    if value is None or str(value).strip() == "":
        return f'<span class="muted">{MISSING}</span>'
    text = _truncated(str(value))
    body = f"<pre>{escape(text)}</pre>" if code else f'<div class="txt">{escape(text)}</div>'
    if not _is_long(text, code):
        return body
    return f"<details><summary>{escape(_preview(text))}</summary>{body}</details>"


def sub_details(label: str, value: Any) -> str:
    """A folded block of untrusted text (the raw output, a schema) below a cell; nothing when empty."""
    if value is None or str(value).strip() == "":
        return ""
    return (f'<details class="sub"><summary>{escape(label)}</summary>'
            f'<pre>{escape(_truncated(str(value)))}</pre></details>')


def kind_tag(kind: Any) -> str:
    """An error kind as a coloured tag ("unknown" when missing), in words where its key would not
    say it (`stats.KIND_LABELS`; the key is then the tag's title)."""
    kind = "unknown" if kind is None or kind == "" else str(kind)
    safe_class = "".join(c for c in kind if c.isalnum() or c == "_")
    label = kind_label(kind)
    title = f' title="{escape(kind)}"' if label != kind else ""
    return f'<span class="tag k-{safe_class}"{title}>{escape(label)}</span>'


# --- comparison tables -----------------------------------------------------------------------

def verdict_cell(d: Delta) -> str:
    """"within noise" or "beyond noise (95%)" for a delta with an interval, "–" without one."""
    if d.interval is None:
        return f'<span class="muted">{MISSING}</span>'
    if within_noise(d.interval):
        return "within noise"
    return "beyond noise (95%)"


def delta_row(metric: Metric, label: str, shown_a: str, shown_b: str, d: Delta) -> str:
    """One metric of a comparison: both values as shown, Δ coloured by its direction, the
    interval and the verdict."""
    noise = d.interval is not None and within_noise(d.interval)
    delta_text = MISSING if d.delta is None else format_delta(metric, d.delta)
    interval = MISSING if d.interval is None else format_interval(d.interval, metric)
    if d.paired_n:
        interval += f' <span class="muted">paired, {d.paired_n}</span>'
    return (f'<tr data-metric="{escape(metric.key)}"><td>{escape(label)}</td>'
            f'<td class="num">{escape(shown_a)}</td><td class="num">{escape(shown_b)}</td>'
            f'<td class="num delta {delta_class(metric, d.delta, noise)}">{escape(delta_text)}</td>'
            f'<td class="num">{interval}</td><td class="verdict">{verdict_cell(d)}</td></tr>')


def delta_table(table_id: str, label_a: str, label_b: str, rows: list[str]) -> str:
    """The table of `delta_row` rows, with A and B named by their labels."""
    return (f'<table id="{escape(table_id)}"><thead><tr><th>metric</th><th class="num">{escape(label_a)}</th>'
            f'<th class="num">{escape(label_b)}</th><th class="num">Δ ({escape(label_b)} − {escape(label_a)})</th>'
            f'<th class="num">95% interval of Δ</th><th>verdict</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


# --- the page on disk ------------------------------------------------------------------------

def report_date() -> str:
    """Now, in local time with the zone: the date line of every report."""
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def write_page(out_path: str | Path, page: str, what: str) -> Path:
    """Write a page atomically: a reader (or a browser refreshing) never sees half a report."""
    out = atomic_write_text(out_path, page)
    log.info("%s written to %s (%.0f kB)", what, out, out.stat().st_size / 1024)
    return out
