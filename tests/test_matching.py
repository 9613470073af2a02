"""Whether two outcomes are the same answer: rows as multisets, columns in any order, names never
counting, numbers by value, DML by database state. Outcomes come from real SQLite/DuckDB runs
wherever the property is about what the engines return."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from sqlgrpo.scoring.matching import outcomes_match, results_match, states_match
from sqlgrpo.sql import TableState, execute

CTX = ("CREATE TABLE staff (id INT, name TEXT, dept TEXT, salary INT); "
       "INSERT INTO staff VALUES (1, 'Ana', 'ops', 500000), (2, 'Bo', 'ops', 300), (3, 'Cy', 'dev', 300);")


# --- rows: multisets, and order only when asked ----------------------------------------------

def test_row_order_is_ignored_by_default():
    # Same rows, reversed: a multiset comparison sees no difference.
    assert results_match([(1,), (2,), (3,)], [(3,), (1,), (2,)])


def test_row_order_counts_when_asked():
    # The gold has ORDER BY: reversed rows are another answer ...
    assert not results_match([(1,), (2,)], [(2,), (1,)], order_matters=True)
    # ... and the same order is still the same answer.
    assert results_match([(1,), (2,)], [(1,), (2,)], order_matters=True)


def test_duplicates_count_in_the_multiset():
    # Same length and same set of distinct rows, but 1 appears twice in one and once in the other.
    assert not results_match([(1,), (1,), (2,)], [(1,), (2,), (2,)])


def test_different_row_counts_never_match():
    # One extra row is a different answer even when every gold row is present.
    assert not results_match([(1, "a")], [(1, "a"), (2, "b")])


def test_two_empty_results_match():
    # Nothing tells two empty results apart.
    assert results_match([], [])


def test_empty_result_does_not_match_a_non_empty_one():
    # Either side empty and the other not: different answers, in both directions.
    assert not results_match([], [(1,)])
    assert not results_match([(1,)], [])


def test_null_equals_null():
    # NULL in the same place on both sides is the same value here (unlike SQL's `=`).
    assert results_match([(None, 1)], [(None, 1)])


def test_null_is_neither_zero_nor_empty_string():
    # NULL must not be normalized into a value it is not.
    assert not results_match([(None,)], [(0,)])
    assert not results_match([(None,)], [("",)])


# --- columns: any permutation, names never count ------------------------------------------------

def test_permuted_columns_match():
    # The prediction lists the columns in another order; each row is the same tuple once permuted.
    assert results_match([(1, "a", 2.5), (2, "b", 3.5)], [("a", 2.5, 1), ("b", 3.5, 2)])


def test_two_identical_columns_permuted_match():
    # Columns 0 and 1 hold identical values; the permutation search must not be confused by the tie.
    assert results_match([(1, 1, "x"), (2, 2, "y")], [("x", 1, 1), ("y", 2, 2)])


def test_permutation_matching_column_signatures_but_not_rows_fails():
    # Every column of both sides holds {1, 2}, so every permutation is a candidate, but no
    # permutation turns the rows (1,1),(2,2) into (1,2),(2,1).
    assert not results_match([(1, 2), (2, 1)], [(1, 1), (2, 2)])


def test_different_widths_never_match():
    # Same values in the first column, one more column on one side.
    assert not results_match([(1,), (2,)], [(1, 0), (2, 0)])


def test_aliases_and_column_names_never_matter():
    # Real runs: different aliases and a different column order give the same outcome.
    gold = execute("SELECT name, salary FROM staff WHERE dept = 'ops'", CTX)
    pred = execute("SELECT s.salary AS pay, s.name AS who FROM staff AS s WHERE s.dept = 'ops'", CTX)
    assert gold.ok and pred.ok and gold.columns != pred.columns  # the names really differ
    assert outcomes_match(gold, pred)


def test_same_columns_with_a_different_filter_do_not_match():
    # Guards the test above: same column names, different rows.
    gold = execute("SELECT name, salary FROM staff WHERE dept = 'ops'", CTX)
    pred = execute("SELECT name, salary FROM staff WHERE dept = 'dev'", CTX)
    assert gold.ok and pred.ok and gold.columns == pred.columns
    assert not outcomes_match(gold, pred)


# --- numbers ---------------------------------------------------------------------------------

def test_integer_equals_the_same_float():
    # 500000 (INTEGER) and 500000.0 (REAL) are the same number.
    assert results_match([(500000,)], [(500000.0,)])


def test_float_noise_is_absorbed():
    # 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
    assert 0.1 + 0.2 != 0.3
    assert results_match([(0.3,)], [(0.1 + 0.2,)])


def test_numbers_that_really_differ_do_not_match():
    # The tolerance absorbs noise, not a different value.
    assert not results_match([(0.3,)], [(0.31,)])
    assert not results_match([(100,)], [(101,)])


def test_engine_computed_float_noise_is_absorbed():
    # SQLite computes 0.1 + 0.2 itself; the gold states 0.3 as a literal.
    gold = execute("SELECT 0.3", CTX)
    pred = execute("SELECT 0.1 + 0.2", CTX)
    assert gold.rows != pred.rows  # the engine really returns the noisy float
    assert outcomes_match(gold, pred)


def test_duckdb_decimal_equals_sqlite_integer():
    # DuckDB sums a DECIMAL column into Decimal('4.00'); SQLite sums INTs into 4.
    duck = execute("SELECT SUM(x) FROM t", "CREATE TABLE t (x DECIMAL(10,2)); INSERT INTO t VALUES (1.5), (2.5);",
                   "duckdb")
    lite = execute("SELECT SUM(x) FROM t", "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (3);")
    assert isinstance(duck.rows[0][0], Decimal) and isinstance(lite.rows[0][0], int)
    assert outcomes_match(duck, lite)


def test_bool_equals_its_integer():
    # DuckDB answers comparisons with booleans, SQLite with 0/1.
    assert results_match([(True,), (False,)], [(1,), (0,)])


def test_number_is_not_its_text():
    # '1' (TEXT) and 1 (INTEGER) are different values, as in the Spider evaluation.
    assert not results_match([(1,)], [("1",)])


def test_distinct_large_integers_do_not_match():
    # 1700000000 and 1700000001 are two epoch seconds one second apart: different answers.
    # Rounding both to 9 significant digits makes them 1.7e9 and equal.
    assert not results_match([(1700000000,)], [(1700000001,)])


def test_floats_one_ulp_apart_match():
    # 0.1234567895 and the next float up differ by ~1e-17, far inside the stated ~1e-9 tolerance,
    # but they round to 0.123456789 and 0.12345679.
    a = 0.1234567895
    assert results_match([(a,)], [(math.nextafter(a, 1.0),)])


def test_wide_sparse_rows_are_compared_within_seconds():
    # A SELECT * of a sparse record: 11 NULL columns and one text in the gold; the prediction has 10
    # NULLs and two texts. No permutation exists, but every NULL column of the gold may stand for
    # any of the 10 NULL columns of the prediction, and the search walks all ~10! prefixes before
    # the last one fails. Run in a subprocess so the hang is killed rather than waited out.
    code = textwrap.dedent("""
        from sqlgrpo.scoring.matching import results_match
        gold = [tuple([None] * 11 + ["x"])]
        pred = [tuple([None] * 10 + ["x", "y"])]
        print(results_match(gold, pred))
    """)
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=4)
    except subprocess.TimeoutExpired:
        pytest.fail("results_match still running after 4 s on a 12-column, 1-row result")
    assert done.stdout.strip() == "False"


# --- strict (BIRD) mode ------------------------------------------------------------------------

def test_strict_mode_ignores_duplicates():
    # BIRD compares sets of rows: duplicates collapse.
    assert results_match([(1,), (1,)], [(1,)], strict=True)


def test_strict_mode_ignores_row_order():
    assert results_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], strict=True)


def test_strict_mode_requires_the_same_column_order():
    # The default mode accepts a permutation; strict mode does not.
    assert results_match([(1, "a")], [("a", 1)])
    assert not results_match([(1, "a")], [("a", 1)], strict=True)


def test_strict_mode_still_compares_numbers_by_value():
    assert results_match([(500000,)], [(500000.0,)], strict=True)
    assert not results_match([(1,)], [(2,)], strict=True)


# --- DML: database states ------------------------------------------------------------------------

def test_two_different_updates_do_not_match():
    # Same table touched, different rows changed: the resulting states differ.
    a = execute("UPDATE staff SET salary = 1 WHERE id = 1", CTX)
    b = execute("UPDATE staff SET salary = 1 WHERE id = 2", CTX)
    assert a.ok and b.ok and a.state is not None and b.state is not None
    assert not outcomes_match(a, b)


def test_same_effect_written_differently_matches():
    # Ana is the only one with id 1 and the only one named Ana: same final state.
    a = execute("UPDATE staff SET salary = salary + 1 WHERE id = 1", CTX)
    b = execute("UPDATE staff SET salary = 500001 WHERE name = 'Ana'", CTX)
    assert a.ok and b.ok
    assert outcomes_match(a, b)


def test_delete_never_matches_a_select():
    # DELETE ... RETURNING * returns exactly the rows the SELECT returns, and still is no answer to
    # a question; nor is a SELECT an answer to a DELETE task. Both directions.
    select = execute("SELECT * FROM staff", CTX)
    delete = execute("DELETE FROM staff RETURNING *", CTX)
    assert select.ok and delete.ok and sorted(select.rows) == sorted(delete.rows)
    assert not outcomes_match(select, delete)
    assert not outcomes_match(delete, select)


def test_failed_execution_never_matches():
    # Two failures have "equal" empty rows but are not the same answer.
    a = execute("SELECT nope FROM staff", CTX)
    b = execute("SELECT nope FROM staff", CTX)
    assert not a.ok
    assert not outcomes_match(a, b)


def test_states_with_different_tables_do_not_match():
    # A prediction that also creates a table leaves a database with one table more.
    t = TableState("staff", ("id",), ((1,),))
    extra = TableState("junk", ("x",), ())
    assert states_match((t,), (t,))
    assert not states_match((t,), (t, extra))


def test_states_compare_rows_as_multisets():
    # Storage order of rows is not part of the state; row multiplicity is.
    a = TableState("t", ("x",), ((1,), (2,)))
    b = TableState("t", ("x",), ((2,), (1,)))
    c = TableState("t", ("x",), ((1,), (1,), (2,)))
    assert states_match((a,), (b,))
    assert not states_match((a,), (c,))
