"""Whether two SQL outcomes are the same answer: the comparison behind the metric and the reward.

Execution accuracy in evaluation and the execution reward in training both call
`outcomes_match`, so what the model is rewarded for is exactly what it is measured on.

Default semantics: those of the Spider test-suite evaluation (Zhong et al., 2020):

- rows are compared as multisets (duplicates count, order does not) ...
- ... unless the gold query orders its result (ORDER BY), then order matters;
- column order does not matter: the predicted columns may be any permutation of the gold's, and
  column names and aliases never matter;
- numbers are compared by value (`500000` equals `500000.0`, big integers exactly) with a
  relative tolerance of 1e-9 (`0.1 + 0.2` equals `0.3`, `ROUND(x, 2)` does not equal `x`);
  booleans as 0/1, Decimals as numbers; NULL equals NULL.

    >>> results_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)])      # permuted columns, rows
    True
    >>> results_match([(500000,)], [(500000.0,)])
    True
    >>> results_match([(1234567891,)], [(1234567892,)])
    False
    >>> results_match([(1,), (2,)], [(2,), (1,)], order_matters=True)  # gold has ORDER BY
    False
    >>> results_match([(1,), (1,)], [(1,)])                            # multisets: counts matter
    False

Strict mode (`strict=True`), the BIRD convention: the sets of rows must be equal with columns in
the same order; duplicates and row order are ignored.

    >>> results_match([(1, "a")], [("a", 1)], strict=True)
    False
    >>> results_match([(1,), (1,)], [(1,)], strict=True)
    True

DML outcomes are database states (every table after the statement ran on its own pristine copy);
two states match when they have the same tables and each table holds the same multiset of rows.

The benchmarks' own comparisons, by name (`MATCH_CONVENTIONS`; `eval --match NAME`, applied by
`sqlgrpo.scoring.verdict.verdict(..., match=NAME)`):

- `ours`: the rules above, on the shown database and every variant of the record's test suite
  (what the reward is built on, whatever the eval reports);
- `spider`: the official Spider execution match (taoyds/test-suite-sql-eval, `exec_eval.py`,
  `eval_exec_match` with its defaults): every DISTINCT keyword cut from both queries before they
  run (`remove_distinct`), row order compared only when the gold's text contains "order by"
  (`spider_order_matters`), columns in any order, values compared as Python compares them, two
  empty results equal (`spider_results_match`);
- `bird`: the official BIRD rule (bird-bench `evaluation_ex.py`, `calculate_ex`): the set of
  predicted rows equals the set of gold rows, values as Python compares them, columns in order
  (`bird_results_match`).

Both benchmark conventions judge on the shown database only and run the prediction as written
(no value of the gold plugged in, no dialect fallback).

    >>> remove_distinct("SELECT COUNT(DISTINCT name) FROM t WHERE name <> 'distinct'")
    "SELECT COUNT( name) FROM t WHERE name <> 'distinct'"
    >>> spider_results_match([(1, "a"), (1, "a")], [("a", 1), ("a", 1)], order_matters=False)
    True
    >>> bird_results_match([(1, "a")], [(1, "a"), (1, "a")]), bird_results_match([(1, "a")], [("a", 1)])
    (True, False)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlglot import tokenize
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from sqlgrpo.sql import ExecResult, TableState

# The comparison conventions by name; the first is the default (and the reward's, always).
MATCH_CONVENTIONS = ("ours", "spider", "bird")
OURS, SPIDER, BIRD = MATCH_CONVENTIONS
MATCH_RULES = {  # one line each, for metrics.json and the report
    OURS: "sqlgrpo test-suite semantics: rows as multisets (order only under a top-level ORDER BY), columns in any "
          "order, numbers within 1e-9, DISTINCT kept; on the shown database and every variant of the test suite",
    SPIDER: "official Spider (test-suite-sql-eval exec_eval.eval_exec_match, defaults): DISTINCT removed from both "
            "queries, row order only when the gold's text contains 'order by', columns in any order, values as "
            "Python compares them; the prediction run as written, on the shown database",
    BIRD: "official BIRD (evaluation_ex.calculate_ex): set(predicted rows) == set(gold rows), columns in order, "
          "values as Python compares them; the prediction run as written, on the shown database",
}

FLOAT_REL_TOL = 1e-9  # absorbs float noise (0.1 + 0.2, SUM order), not rounding choices (ROUND(x, 2))
FLOAT_ABS_TOL = 1e-12  # so that values around zero compare sensibly
FLOAT_KEY_DIGITS = 12  # for grouping and sorting only; the comparison itself uses the tolerance
EXACT_INTEGER_LIMIT = 2 ** 53  # integers below this are exact as floats; above, kept as ints
MAX_PERMUTATION_STEPS = 10_000  # search steps over column orders: wide look-alike results give up, not hang


def normalize_value(value: Any) -> Any:
    """A hashable, comparable form: numbers as floats (big integers exactly), bytes and other
    types tagged, strings and NULL as they are."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int) and abs(value) >= EXACT_INTEGER_LIMIT:
        return ("int", value)
    if isinstance(value, (int, float, Decimal)):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return ("num", str(value))
        if math.isnan(number) or math.isinf(number):
            return ("num", str(number))
        return number
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(value))
    if value is None or isinstance(value, str):
        return value
    return ("other", str(value))  # dates, lists, structs (DuckDB): compare by their text


def _key(value: Any) -> tuple:
    """Sort and grouping key: floats rounded so that near-equal values sort together; mixed
    types (NULL, numbers, strings) sort without TypeError."""
    if value is None:
        return (0, "")
    if isinstance(value, float):
        return (1, float(f"{value:.{FLOAT_KEY_DIGITS}g}"))
    if isinstance(value, str):
        return (2, value)
    return (3, repr(value))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=FLOAT_REL_TOL, abs_tol=FLOAT_ABS_TOL)
    return a == b


def _rows_close(a: Sequence, b: Sequence) -> bool:
    return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))


def _row_key(row: Sequence) -> tuple:
    return tuple(_key(v) for v in row)


def _multisets_close(gold: list[tuple], pred: list[tuple]) -> bool:
    """Multiset equality up to the float tolerance: sort both by rounded keys, compare in pairs."""
    return all(_rows_close(g, p) for g, p in zip(sorted(gold, key=_row_key), sorted(pred, key=_row_key)))


def _normalized_rows(rows: Iterable[Sequence]) -> list[tuple]:
    return [tuple(normalize_value(v) for v in row) for row in rows]


def _column_signature(rows: list[tuple], index: int) -> tuple:
    return tuple(sorted(_key(r[index]) for r in rows))


def _permutations(gold: list[tuple], pred: list[tuple], width: int) -> Iterable[tuple[int, ...]]:
    """Orders of the predicted columns worth trying: each predicted column may stand for a gold
    column only when both hold the same multiset of values. Bounded in search steps."""
    gold_sigs = [_column_signature(gold, i) for i in range(width)]
    pred_sigs = [_column_signature(pred, j) for j in range(width)]
    if Counter(gold_sigs) != Counter(pred_sigs):
        return  # no order of the columns can make the results equal
    candidates = [[j for j in range(width) if pred_sigs[j] == gold_sigs[i]] for i in range(width)]
    steps = 0

    def extend(prefix: list[int], used: set[int]) -> Iterable[tuple[int, ...]]:
        nonlocal steps
        steps += 1
        if steps > MAX_PERMUTATION_STEPS:
            return
        if len(prefix) == width:
            yield tuple(prefix)
            return
        for j in candidates[len(prefix)]:
            if j not in used:
                yield from extend(prefix + [j], used | {j})

    yield from extend([], set())


def results_match(gold_rows: Sequence[Sequence], pred_rows: Sequence[Sequence], *, order_matters: bool = False,
                  strict: bool = False) -> bool:
    """Whether two result sets are the same answer (see the module docstring for the rules)."""
    gold = _normalized_rows(gold_rows)
    pred = _normalized_rows(pred_rows)
    if strict:
        unique_gold = list({_row_key(r): r for r in gold}.values())
        unique_pred = list({_row_key(r): r for r in pred}.values())
        return len(unique_gold) == len(unique_pred) and _multisets_close(unique_gold, unique_pred)
    if len(gold) != len(pred):
        return False
    if not gold:
        return True  # two empty results: nothing tells them apart
    width = len(gold[0])
    if any(len(r) != width for r in pred):
        return False
    for perm in _permutations(gold, pred, width):
        permuted = [tuple(r[j] for j in perm) for r in pred]
        if order_matters:
            if all(_rows_close(g, p) for g, p in zip(gold, permuted)):
                return True
        elif _multisets_close(gold, permuted):
            return True
    return False


def states_match(gold: Sequence[TableState], pred: Sequence[TableState]) -> bool:
    """Whether two database states hold the same tables with the same rows (as multisets)."""
    gold_tables = {t.name.lower(): t for t in gold}
    pred_tables = {t.name.lower(): t for t in pred}
    if gold_tables.keys() != pred_tables.keys():
        return False
    for name, g in gold_tables.items():
        p = pred_tables[name]
        if len(g.columns) != len(p.columns) or len(g.rows) != len(p.rows):
            return False
        if not _multisets_close(_normalized_rows(g.rows), _normalized_rows(p.rows)):
            return False
    return True


def modifies(result: ExecResult) -> bool:
    """Whether a text changed the database (DML or DDL): its outcome is then a state, not rows."""
    return any(k != "select" for k in result.statement_kinds)


def outcomes_match(gold: ExecResult, pred: ExecResult, *, order_matters: bool = False, strict: bool = False) -> bool:
    """Whether a predicted execution gives the gold's outcome.

    Both must have run. A gold with DML is matched by state, and only by a prediction that also
    modifies the database; a SELECT gold only by a prediction that modifies nothing (a DELETE
    never answers a question, whatever it returns).
    """
    if not (gold.ok and pred.ok):
        return False
    if modifies(gold) != modifies(pred):
        return False
    if modifies(gold):
        return gold.state is not None and pred.state is not None and (
            gold.state == pred.state or states_match(gold.state, pred.state))
    # The same rows in the same order match under every rule above; a right answer, checked on
    # every database of a suite, mostly is exactly that, and comparing tuples costs no sorting.
    return gold.rows == pred.rows or results_match(gold.rows, pred.rows, order_matters=order_matters, strict=strict)


def _ratio(a: int, b: int) -> float:
    """min/max of two counts; 1.0 when both are 0."""
    return 1.0 if a == b else min(a, b) / max(a, b)


def _cells(rows: Iterable[Sequence]) -> Counter:
    return Counter(_key(normalize_value(v)) for row in rows for v in row)


def outcome_similarity(gold: ExecResult, pred: ExecResult) -> float:
    """How close an answer's outcome comes to the gold's, in [0, 1], graded where
    `outcomes_match` only says yes or no: 1.0 for the gold's outcome, 0.0 for an answer that did
    not run or is of another kind (one modifies the database, the other does not).

    Rows: the mean of their shape (min/max of the column counts times min/max of the row counts)
    and of the F1 of their cell values as multisets (numbers by value, rounded as for sorting). A
    one-column lookup of many rows answering a count gets little of either; a count with the
    wrong filter gets the shape; the right column under a looser filter gets most of both. A
    whole table dumped for one value loses on both, as the values' precision falls.
    DML: min/max of the rows the two changed.

    >>> from sqlgrpo.sql import ExecResult
    >>> gold = ExecResult(ok=True, columns=("n",), rows=((3,),), statement_kinds=("select",))
    >>> lookup = ExecResult(ok=True, columns=("id",), rows=((1,), (2,), (3,), (4,)), statement_kinds=("select",))
    >>> count = ExecResult(ok=True, columns=("n",), rows=((2,),), statement_kinds=("select",))
    >>> [round(outcome_similarity(gold, p), 3) for p in (gold, lookup, count)]
    [1.0, 0.325, 0.5]
    """
    if not (gold.ok and pred.ok) or modifies(gold) != modifies(pred):
        return 0.0
    if modifies(gold):
        return _ratio(gold.rows_changed, pred.rows_changed)
    gold_width = len(gold.columns) or max((len(r) for r in gold.rows), default=0)
    pred_width = len(pred.columns) or max((len(r) for r in pred.rows), default=0)
    shape = _ratio(gold_width, pred_width) * _ratio(len(gold.rows), len(pred.rows))
    gold_cells, pred_cells = _cells(gold.rows), _cells(pred.rows)
    if not gold_cells and not pred_cells:
        values = 1.0
    else:
        common = sum((gold_cells & pred_cells).values())
        values = 2 * common / (sum(gold_cells.values()) + sum(pred_cells.values()))
    return (shape + values) / 2


def outcome_key(result: ExecResult) -> tuple | None:
    """A hashable summary of an outcome for majority voting (self-consistency): equal for
    outcomes that match under the default semantics in all but contrived cases (each row as a
    multiset of rounded values, rows as a multiset; DML by its state). None when it did not run."""
    if not result.ok:
        return None

    def rows_key(rows: Sequence[Sequence]) -> tuple:
        return tuple(sorted(tuple(sorted(_key(normalize_value(v)) for v in row)) for row in rows))

    if modifies(result):
        state = result.state or ()
        return ("state",) + tuple((t.name.lower(), rows_key(t.rows)) for t in sorted(state, key=lambda t: t.name.lower()))
    return ("rows", rows_key(result.rows))


# --------------------------------------------------------------------------------------------
# The benchmarks' own conventions

def check_convention(match: str) -> str:
    """The convention's name, or a ValueError that lists the valid ones."""
    if match not in MATCH_CONVENTIONS:
        raise ValueError(f"unknown match convention {match!r}; valid conventions: {', '.join(MATCH_CONVENTIONS)}")
    return match


def remove_distinct(sql: str, backend: str = "sqlite") -> str:
    """The text with every DISTINCT keyword cut out and nothing else touched, as Spider's official
    `remove_distinct` does (it drops each token whose text is "distinct" and joins the rest).

    Done on the tokens, not on the sqlglot tree: the official rule is a token rule, and the tree
    would differ from it twice. It keeps `a IS [NOT] DISTINCT FROM b` (the official rule leaves
    `a IS [NOT]  FROM b`, which no longer runs), and it would send every query through sqlglot's
    SQL writer (`substr` becomes `SUBSTRING`, `LIMIT 1, 2` becomes `LIMIT 2 OFFSET 1`, ...)
    instead of running the text as written. Strings, quoted identifiers and comments that hold
    the word are tokens of their own and stay. A text the tokenizer cannot read (an unclosed
    quote) stays as written: it fails to run either way.
    """
    try:
        tokens = tokenize(sql, read=backend)
    except (SqlglotError, ValueError):
        return sql
    out, last = [], 0
    for token in tokens:
        if token.token_type == TokenType.DISTINCT:
            out.append(sql[last:token.start])
            last = token.end + 1
    return "".join(out) + sql[last:] if out else sql


def spider_order_matters(gold_sql: str) -> bool:
    """Spider's rule for row order: it counts when the gold's text contains "order by" (any case,
    anywhere: a subquery's ORDER BY counts too, `ORDER  BY` with two spaces does not)."""
    return "order by" in gold_sql.lower()


def _hashable(value: Any) -> Any:
    """A value as a set member: lists (DuckDB) become tuples; SQLite's values are hashable already."""
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def _python_rows(rows: Iterable[Sequence]) -> list[tuple]:
    return [tuple(_hashable(v) for v in row) for row in rows]


def _unordered_row(row: tuple) -> tuple:
    # The official quick rejection orders a row's values by their text and type name, so that
    # `1` and `1.0` may land in different places of two rows that are otherwise equal: kept, so
    # that the numbers are the official ones.
    return tuple(sorted(row, key=lambda v: str(v) + str(type(v))))


def spider_results_match(gold_rows: Sequence[Sequence], pred_rows: Sequence[Sequence], *, order_matters: bool) -> bool:
    """Spider's `result_eq`: some order of the predicted columns makes the rows equal to the gold's,
    as lists when order matters, else as multisets; values compared by Python's `==` (1 == 1.0,
    0.1 + 0.2 != 0.3, '1' != 1); two empty results are equal whatever their columns."""
    gold, pred = _python_rows(gold_rows), _python_rows(pred_rows)
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    width = len(gold[0])
    if any(len(r) != width for r in gold + pred):
        return False
    unordered_gold, unordered_pred = [_unordered_row(r) for r in gold], [_unordered_row(r) for r in pred]
    if (unordered_gold != unordered_pred) if order_matters else (set(unordered_gold) != set(unordered_pred)):
        return False  # the official quick rejection: no column order can help
    gold_counts = Counter(gold)
    # A predicted column may stand for a gold column only when each of its values occurs in that
    # gold column (the official samples 20 rows for this; all rows prune more and decide the same).
    gold_columns = [{r[i] for r in gold} for i in range(width)]
    candidates = [[j for j in range(width) if all(r[j] in gold_columns[i] for r in pred)] for i in range(width)]
    steps = 0

    def search(prefix: list[int]) -> bool:
        nonlocal steps
        steps += 1
        if steps > MAX_PERMUTATION_STEPS:
            return False
        if len(prefix) == width:
            permuted = [tuple(r[j] for j in prefix) for r in pred]
            return permuted == gold if order_matters else Counter(permuted) == gold_counts
        return any(search(prefix + [j]) for j in candidates[len(prefix)] if j not in prefix)

    return search([])


def bird_results_match(gold_rows: Sequence[Sequence], pred_rows: Sequence[Sequence]) -> bool:
    """BIRD's `calculate_ex`: `set(predicted rows) == set(gold rows)`; duplicates and row order
    never count, column order does, values compared by Python's `==`."""
    return set(_python_rows(pred_rows)) == set(_python_rows(gold_rows))


def convention_outcomes_match(gold: ExecResult, pred: ExecResult, match: str, *, order_matters: bool = False) -> bool:
    """Whether a prediction gives the gold's outcome under a named convention (`order_matters`
    only for `ours` and `spider`, from the gold). Both must have run and be the same kind of
    statement; DML is compared by the state it leaves under every convention (the benchmarks
    have no DML)."""
    if check_convention(match) == OURS or not (gold.ok and pred.ok) or modifies(gold) or modifies(pred):
        return outcomes_match(gold, pred, order_matters=order_matters)
    if match == SPIDER:
        return spider_results_match(gold.rows, pred.rows, order_matters=order_matters)
    return bird_results_match(gold.rows, pred.rows)
