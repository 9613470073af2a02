"""Verified near-misses (`sqlgrpo.scoring.near_misses`) and the reward audit (`sqlgrpo.scoring.audit`).

Every near-miss is checked here again, independently, by running it on a real SQLite (or DuckDB)
database and comparing with `outcomes_match`: the property is "runs, and is another answer". The
audit's discrimination section is checked on hand-built suites whose verdicts can be worked out
by hand, and its classifier of neighbours equivalent by construction on positive and negative
cases."""

from __future__ import annotations

import json

import pytest

from sqlgrpo.cli import main
from sqlgrpo.data.sources import load_source
from sqlgrpo.scoring import near_misses as contrastive
from sqlgrpo.scoring.audit import EXECUTION_REWARD, audit_rewards, equivalent_by_construction, execution_accepts
from sqlgrpo.scoring.matching import outcomes_match, states_match
from sqlgrpo.scoring.near_misses import EDITS, near_misses, parse_gold
from sqlgrpo.scoring.verdict import gold_is_ordered
from sqlgrpo.sql import execute

CTX = ("CREATE TABLE sales (id INT, region TEXT, amount INT); "
       "INSERT INTO sales VALUES (1, 'north', 10), (2, 'north', 20), (3, 'south', 30), (4, 'east', 40);")
GOLD = "SELECT SUM(amount) FROM sales WHERE amount > 15"


def _differs(gold: str, candidate: str, ctx: str = CTX, backend: str = "sqlite") -> bool:
    """Runs, and its outcome is not the gold's: the definition of a verified negative."""
    g, c = execute(gold, ctx, backend), execute(candidate, ctx, backend)
    return g.ok and c.ok and not outcomes_match(g, c, order_matters=gold_is_ordered(gold, backend))


def _kind_and_sql(miss: dict) -> dict:
    """A near-miss record without the fields these tests are not about."""
    return {"kind": miss["kind"], "sql": miss["sql"]}


# --- each edit kind makes verified negatives --------------------------------------------------

@pytest.mark.parametrize("kind, expected", [
    ("flip_comparison", "SELECT SUM(amount) FROM sales WHERE amount <= 15"),  # 10 instead of 90
    ("drop_where", "SELECT SUM(amount) FROM sales"),  # 100 instead of 90
    ("swap_aggregate", "SELECT AVG(amount) FROM sales WHERE amount > 15"),  # 30 instead of 90
])
def test_each_edit_kind_makes_a_verified_negative(kind, expected):
    # The expected edit is among the near-misses, and every near-miss of the kind is wrong.
    misses = [m["sql"] for m in near_misses(GOLD, CTX) if m["kind"] == kind]
    assert expected in misses
    assert all(_differs(GOLD, sql) for sql in misses)


def test_an_edit_that_keeps_the_outcome_is_not_kept():
    # Every amount is positive, so dropping `WHERE amount >= 0` returns the very same rows: the
    # edit is made (one drop_where candidate exists) but it is no negative, so it is filtered.
    # Flipping to `amount < 0` returns nothing instead of four rows: that one is kept.
    gold = "SELECT id FROM sales WHERE amount >= 0"
    assert len(list(EDITS["drop_where"](parse_gold(gold)))) == 1
    kinds = [m["kind"] for m in near_misses(gold, CTX)]
    assert "drop_where" not in kinds
    assert "flip_comparison" in kinds


def test_aggregate_swaps_equal_on_the_data_are_filtered():
    # One row matches: its MAX equals its MIN, SUM and AVG (40), only COUNT (1) differs.
    misses = [m["sql"] for m in near_misses("SELECT MAX(amount) FROM sales WHERE id = 4", CTX)
              if m["kind"] == "swap_aggregate"]
    assert misses == ["SELECT COUNT(amount) FROM sales WHERE id = 4"]


def test_count_star_is_not_swapped():
    # COUNT(*) has no column argument: SUM(*) or MAX(*) is no query at all.
    assert not list(EDITS["swap_aggregate"](parse_gold("SELECT COUNT(*) FROM sales")))


def test_order_counts_when_the_gold_orders():
    # Flipping `>` to `<=` in a query ordered by amount gives other rows; every near-miss of an
    # ordered gold is checked with row order counting, as the reward checks it.
    gold = "SELECT id FROM sales WHERE amount > 15 ORDER BY amount DESC"
    misses = near_misses(gold, CTX)
    assert misses and all(_differs(gold, m["sql"]) for m in misses)


# --- DML: negatives differ by the database state ---------------------------------------------

def test_dml_near_misses_leave_another_database_state():
    # UPDATE ... WHERE: flipping the condition or dropping it updates other rows (and so do the
    # DML edits of `sqlgrpo.scoring.edits`, changing the SET value or sparing a row).
    gold = "UPDATE sales SET amount = 0 WHERE region = 'north'"
    misses = near_misses(gold, CTX)
    assert {"flip_comparison", "drop_where", "change_dml_value", "narrow_dml_where"} <= {m["kind"] for m in misses}
    g = execute(gold, CTX)
    for m in misses:
        c = execute(m["sql"], CTX)
        assert c.ok and c.has_dml and not states_match(g.state, c.state)


def test_update_assignments_are_never_flipped():
    # `SET amount = 0, region = 'x'` are assignments (sqlglot builds them as =), not comparisons:
    # only the WHERE condition is a candidate. (Flipped assignments would not run, but they
    # would spend the per-kind budget of tries on a wide UPDATE.)
    gold = "UPDATE sales SET amount = 0, region = 'x' WHERE id = 1"
    candidates = [contrastive.render(trees) for trees in EDITS["flip_comparison"](parse_gold(gold))]
    assert candidates == ["UPDATE sales SET amount = 0, region = 'x' WHERE id <> 1"]


def test_delete_without_where_is_a_negative():
    # DELETE of one region vs DELETE of every row: another state.
    misses = near_misses("DELETE FROM sales WHERE region = 'south'", CTX)
    assert {"kind": "drop_where", "sql": "DELETE FROM sales"} in [_kind_and_sql(m) for m in misses]


# --- rows that cannot be worked on ------------------------------------------------------------

@pytest.mark.parametrize("gold", [
    # Runs in SQLite, but sqlglot reads GRANT as a keyword and cannot parse it: no AST, no edits.
    "SELECT g.name FROM grant g WHERE g.id > 1",
    "SELEC amount FRM sales",  # does not run
    "SELECT nope FROM sales WHERE id = 1",  # does not run (missing column)
    "",  # nothing at all
    None,  # not even text: never raises
])
def test_rows_that_cannot_be_worked_on_give_nothing(gold):
    ctx = CTX + " CREATE TABLE \"grant\" (id INT, name TEXT); INSERT INTO \"grant\" VALUES (1, 'a'), (2, 'b');"
    assert near_misses(gold, ctx) == []


def test_the_grant_gold_really_runs():
    # Guards the case above: the gold must fail in sqlglot only, not in the engine.
    ctx = "CREATE TABLE \"grant\" (id INT, name TEXT); INSERT INTO \"grant\" VALUES (1, 'a'), (2, 'b');"
    assert execute("SELECT g.name FROM grant g WHERE g.id > 1", ctx).ok
    assert parse_gold("SELECT g.name FROM grant g WHERE g.id > 1") is None


# --- order, limits, deduplication -------------------------------------------------------------

def test_near_misses_are_deterministic_and_capped_per_kind():
    # Three comparisons, max_per_kind=2: the first two in textual order, the same every call.
    gold = "SELECT id FROM sales WHERE amount > 5 AND id < 4 AND region <> 'east'"
    first = near_misses(gold, CTX, max_per_kind=2)
    flips = [m["sql"] for m in first if m["kind"] == "flip_comparison"]
    assert flips == ["SELECT id FROM sales WHERE amount <= 5 AND id < 4 AND region <> 'east'",
                     "SELECT id FROM sales WHERE amount > 5 AND id >= 4 AND region <> 'east'"]
    assert near_misses(gold, CTX, max_per_kind=2) == first


def test_duplicate_candidates_are_kept_once(monkeypatch):
    # An edit (registered like any other) that proposes the same query twice, and the gold's own
    # text: the first is kept once, the second never.
    def twice(trees, example=None):  # an edit's signature: the gold's trees, its example database
        for text in ("SELECT SUM(amount) FROM sales", "SELECT  SUM(amount)  FROM sales;", GOLD):
            yield parse_gold(text)

    monkeypatch.setattr(contrastive, "EDITS", {"twice": twice})
    assert [_kind_and_sql(m) for m in near_misses(GOLD, CTX)] == [{"kind": "twice", "sql": "SELECT SUM(amount) FROM sales"}]


def test_mysql_gold_gives_near_misses_in_the_backend_dialect():
    # DATE_FORMAT is MySQL: the executor ran the gold transpiled from MySQL, so the gold is read
    # as MySQL and its near-misses are written as SQLite that runs as written (no fallback).
    ctx = "CREATE TABLE visits (day TEXT, n INT); INSERT INTO visits VALUES ('2024-01-05', 1), ('2024-02-07', 2);"
    gold = "SELECT DATE_FORMAT(day, '%Y-%m') AS month, SUM(n) FROM visits WHERE n > 1 GROUP BY month"
    assert execute(gold, ctx).dialect == "mysql"
    misses = near_misses(gold, ctx)
    assert misses and all(execute(m["sql"], ctx).dialect == "as_written" for m in misses)


def test_duckdb_near_misses_run_on_duckdb():
    # Candidates are written in the backend's dialect and verified on the backend itself.
    misses = near_misses(GOLD, CTX, "duckdb")
    assert misses and all(_differs(GOLD, m["sql"], backend="duckdb") for m in misses)


# --- the audit ------------------------------------------------------------------------------

ROWS = [
    {"sql": GOLD, "sql_context": CTX},
    {"sql": "SELECT region, COUNT(id) FROM sales WHERE amount >= 20 GROUP BY region", "sql_context": CTX},
    {"sql": "UPDATE sales SET region = 'west' WHERE amount < 25", "sql_context": CTX},
    {"sql": "SELECT id FROM sales WHERE region = 'north' ORDER BY amount DESC", "sql_context": CTX},
    {"sql": "SELECT nope FROM sales", "sql_context": CTX},  # gold fails: skipped and counted
    {"sql": "INSERT INTO sales VALUES (5, 'west', 50)", "sql_context": CTX},  # change_dml_value applies
    {"sql": "SELECT COUNT(*) FROM sales", "sql_context": CTX},  # no edit applies: nothing to change
]


def test_audit_execution_reward_always_prefers_the_gold():
    # Near-misses have another outcome by construction: execution ranks the gold higher in all.
    report = audit_rewards(ROWS, progress=False)
    execution = report["rewards"][EXECUTION_REWARD]
    assert execution["pairs"] == report["near_misses"] > 0
    assert execution["gold_higher"] == 1.0 and execution["unjudged_pairs"] == 0
    assert execution_accepts(report)


def test_audit_counts_skipped_rows():
    # One gold fails, one (COUNT(*) of a whole table) has no near-miss; the other five are scored.
    report = audit_rewards(ROWS, progress=False)
    assert (report["rows"], report["skipped_gold_failed"], report["rows_without_near_misses"],
            report["rows_scored"]) == (7, 1, 1, 5)


def test_audit_sees_format_rewards_tie():
    # Gold and near-miss share the answer format: a format reward cannot tell them apart.
    report = audit_rewards(ROWS, progress=False)
    assert report["rewards"]["strict_format_reward"]["tie"] == 1.0


def test_acceptance_fails_on_a_tie():
    # A report where the execution reward tied once must not pass the check.
    report = {"rewards": {EXECUTION_REWARD: {"pairs": 2, "gold_higher": 0.5, "unjudged_pairs": 0}}}
    assert not execution_accepts(report)


def test_audit_cli_writes_the_json_report(tmp_path, capsys):
    # The subcommand as the CLI wires it: prints the table, writes JSON, status 0.
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"sql_prompt": "q?", **row}) + "\n" for row in ROWS[:3]), encoding="utf-8")
    out = tmp_path / "audit.json"
    assert main(["audit-rewards", "--data", str(data), "--output", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["rows"] == 3 and report["rewards"][EXECUTION_REWARD]["gold_higher"] == 1.0
    assert "execution_reward" in capsys.readouterr().out


def test_execution_prefers_the_gold_on_the_shared_gretel_rows(shared_gretel_path):
    # 900 real rows (~20 s): every verified near-miss scores below its gold on execution. Suites
    # and neighbours are left out: they do not change these pairs and would take minutes.
    report = audit_rewards(load_source(str(shared_gretel_path)).records, build_suites=False, discriminate=False,
                           progress=False)
    execution = report["rewards"][EXECUTION_REWARD]
    assert execution["pairs"] > 1000  # the check must rest on many pairs, not a handful
    assert execution["gold_higher"] == 1.0 and execution["unjudged_pairs"] == 0


# --- the audit's discrimination: neighbours that agree on the shown database -------------------

# A row with 15 in it: `amount >= 15` and `amount > 14` now sum 105 where the gold sums 90, while
# `amount > 16` still sums 90 (the new row is excluded by both it and the gold).
ROW_OF_15 = "INSERT INTO sales VALUES (5, 'west', 15);"


def _shift_comparison(report: dict) -> dict:
    return report["discrimination"]["by_kind"]["shift_comparison"]


def test_a_suite_variant_catches_neighbours_that_agree_on_the_shown_data():
    # No amount is 15, 14 or 16 on the shown database, so all three shifted boundaries of
    # `amount > 15` sum 90 there, as the gold does; the suite's row of 15 proves two of them wrong.
    report = audit_rewards([{"sql": GOLD, "sql_context": CTX, "test_suite": [ROW_OF_15]}], progress=False)
    shift = _shift_comparison(report)
    assert (shift["agreeing"], shift["caught_by_suite"]) == (3, 2)


def test_without_the_suite_agreeing_neighbours_keep_full_credit():
    # The same row with the one-database reward: every coincidence is paid in full, none caught.
    report = audit_rewards([{"sql": GOLD, "sql_context": CTX, "test_suite": [ROW_OF_15]}], progress=False)
    assert _shift_comparison(report)["caught_without_suite"] == 0


def test_a_prepared_records_empty_suite_is_used_not_rebuilt():
    # `test_suite: []` is prepare's decision (no suite for this record): the audit takes it as
    # is, so nothing is caught, and no suite is built behind prepare's back.
    report = audit_rewards([{"sql": GOLD, "sql_context": CTX, "test_suite": []}], progress=False)
    found = report["discrimination"]
    assert (found["suite_origins"]["from_record"], found["suite_origins"]["built"], found["rows_with_suite"]) == (1, 0, 0)
    assert _shift_comparison(report)["caught_by_suite"] == 0


def test_a_record_without_a_suite_gets_one_built():
    # A raw record (no `test_suite` field at all): the audit builds its suite itself.
    report = audit_rewards([{"sql": GOLD, "sql_context": CTX}], progress=False)
    found = report["discrimination"]
    assert (found["suite_origins"]["built"], found["rows_with_suite"]) == (1, 1)


def test_building_suites_can_be_turned_off():
    # build_suites=False: the raw record is judged on its one database, as before suites existed.
    report = audit_rewards([{"sql": GOLD, "sql_context": CTX}], build_suites=False, progress=False)
    found = report["discrimination"]
    assert (found["suite_origins"]["not_built"], found["rows_with_suite"], found["caught_by_suite"]) == (1, 0, 0)


def test_equivalent_neighbours_are_left_out_of_the_share_that_excludes_them():
    # toggle_distinct gives `SELECT DISTINCT SUM(...)` (one row: equivalent by construction) and
    # `SUM(DISTINCT amount)` (the amounts are distinct here and in the variant: agrees, not caught).
    report = audit_rewards([{"sql": GOLD, "sql_context": CTX, "test_suite": [ROW_OF_15]}], progress=False)
    distinct = report["discrimination"]["by_kind"]["toggle_distinct"]
    assert (distinct["agreeing"], distinct["equivalent"], distinct["agreeing_not_equivalent"]) == (2, 1, 1)


def test_the_pair_table_gets_the_rows_suite_as_a_column():
    # With a suite, the gold is still its own outcome everywhere and a near-miss differs on the
    # shown database already: the execution reward must rank the gold higher in every pair.
    report = audit_rewards([{**row, "test_suite": [ROW_OF_15]} for row in ROWS[:4]], progress=False)
    assert execution_accepts(report) and report["rewards"][EXECUTION_REWARD]["pairs"] > 0


def test_audit_cli_can_skip_building_suites(tmp_path):
    # --no-build-suites reaches the audit: no row gets a suite, and the options say so.
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"sql_prompt": "q?", **row}) + "\n" for row in ROWS[:2]), encoding="utf-8")
    out = tmp_path / "audit.json"
    assert main(["audit-rewards", "--data", str(data), "--no-build-suites", "--output", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["options"]["build_suites"] is False
    assert report["discrimination"]["suite_origins"]["not_built"] == 2


# --- neighbours equivalent by construction ----------------------------------------------------

@pytest.mark.parametrize("kind, gold, neighbour", [
    # An aggregate without GROUP BY returns one row: DISTINCT has nothing to remove.
    ("toggle_distinct", "SELECT SUM(amount) FROM sales", "SELECT DISTINCT SUM(amount) FROM sales"),
    # Every group is one row and its key is selected: the rows are already distinct.
    ("toggle_distinct", "SELECT region, COUNT(id) FROM sales GROUP BY region",
     "SELECT DISTINCT region, COUNT(id) FROM sales GROUP BY region"),
    # The same, with the key named by its position in the select list.
    ("toggle_distinct", "SELECT region, COUNT(id) FROM sales GROUP BY 1",
     "SELECT DISTINCT region, COUNT(id) FROM sales GROUP BY 1"),
    # The selected `s.region` is the key `region`: s is the query's only table.
    ("toggle_distinct", "SELECT s.region, COUNT(id) FROM sales AS s GROUP BY region",
     "SELECT DISTINCT s.region, COUNT(id) FROM sales AS s GROUP BY region"),
    # The largest of the distinct values is the largest value.
    ("toggle_distinct", "SELECT MAX(amount) FROM sales", "SELECT MAX(DISTINCT amount) FROM sales"),
    # `b.y > 3` is not true for the NULLs the LEFT JOIN adds: they are filtered out again.
    ("change_join", "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE b.y > 3",
     "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id WHERE b.y > 3"),
    # The same through an alias, IS NOT NULL, and another conjunct beside it.
    ("change_join", "SELECT a.x FROM a INNER JOIN b AS bb ON a.id = bb.id WHERE a.z = 1 AND bb.y IS NOT NULL",
     "SELECT a.x FROM a LEFT JOIN b AS bb ON a.id = bb.id WHERE a.z = 1 AND NOT bb.y IS NULL"),
    # The reverse edit (LEFT made INNER) is the same identity.
    ("change_join", "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id WHERE b.y IN (1, 2)",
     "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE b.y IN (1, 2)"),
    # Several SELECTs answer with the last one's rows: an edit to an earlier one changes nothing.
    ("flip_comparison", "SELECT x FROM t WHERE x > 1; SELECT COUNT(*) FROM t",
     "SELECT x FROM t WHERE x <= 1; SELECT COUNT(*) FROM t"),
])
def test_equivalent_neighbours_are_recognised(kind, gold, neighbour):
    assert equivalent_by_construction(kind, gold, neighbour)


@pytest.mark.parametrize("kind, gold, neighbour", [
    # Many rows: DISTINCT removes repeated regions.
    ("toggle_distinct", "SELECT region FROM sales", "SELECT DISTINCT region FROM sales"),
    # A group key that is not selected: two groups can give the same count.
    ("toggle_distinct", "SELECT COUNT(id) FROM sales GROUP BY region",
     "SELECT DISTINCT COUNT(id) FROM sales GROUP BY region"),
    # `month` may be the alias or a column of that name (no schema here to tell): not sure.
    ("toggle_distinct", "SELECT SUBSTR(day, 1, 7) AS month, COUNT(id) FROM visits GROUP BY month",
     "SELECT DISTINCT SUBSTR(day, 1, 7) AS month, COUNT(id) FROM visits GROUP BY month"),
    # A window is no aggregate of the SELECT: one row per input row, repeated values.
    ("toggle_distinct", "SELECT SUM(amount) OVER () FROM sales", "SELECT DISTINCT SUM(amount) OVER () FROM sales"),
    # SQLite's two-argument MAX is a scalar function: one row per input row.
    ("toggle_distinct", "SELECT MAX(id, amount) FROM sales", "SELECT DISTINCT MAX(id, amount) FROM sales"),
    # The sum of the distinct values is not the sum of the values.
    ("toggle_distinct", "SELECT SUM(amount) FROM sales", "SELECT SUM(DISTINCT amount) FROM sales"),
    # The WHERE is about the inner side only: the LEFT JOIN's extra rows survive it.
    ("change_join", "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE a.y > 3",
     "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id WHERE a.y > 3"),
    # IS NULL keeps exactly the rows the LEFT JOIN adds.
    ("change_join", "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE b.y IS NULL",
     "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id WHERE b.y IS NULL"),
    # Under OR the condition can be true without b.
    ("change_join", "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE b.y > 3 OR a.z = 1",
     "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id WHERE b.y > 3 OR a.z = 1"),
    # An unqualified column: which table it belongs to is not known without the schema.
    ("change_join", "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE y > 3",
     "SELECT a.x FROM a LEFT JOIN b ON a.id = b.id WHERE y > 3"),
    # Equivalent edits of another kind are not this classifier's business: not sure means False.
    ("flip_comparison", "SELECT SUM(amount) FROM sales", "SELECT DISTINCT SUM(amount) FROM sales"),
    # The edit is in the last SELECT, whose rows are the outcome.
    ("flip_comparison", "SELECT x FROM t; SELECT COUNT(*) FROM t WHERE x > 1",
     "SELECT x FROM t; SELECT COUNT(*) FROM t WHERE x <= 1"),
    # An earlier statement that writes changes what the last one reads.
    ("change_dml_value", "UPDATE t SET x = 1; SELECT x FROM t", "UPDATE t SET x = 2; SELECT x FROM t"),
    # Text that does not parse is never equivalent.
    ("toggle_distinct", "SELECT SUM(amount) FROM sales", "SELEC DISTINCT"),
])
def test_other_neighbours_are_not_called_equivalent(kind, gold, neighbour):
    assert not equivalent_by_construction(kind, gold, neighbour)
