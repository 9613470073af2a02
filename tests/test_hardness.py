"""Spider's difficulty classes (sqlgrpo.sql.hardness): each counting rule of the official
`eval_hardness`, its quirks, its thresholds, and labels the official code gave."""

from __future__ import annotations

import pytest

from sqlgrpo.sql.analysis import parse_any
from sqlgrpo.sql.hardness import HardnessCounts, hardness_counts, spider_hardness


def counts(sql: str) -> HardnessCounts:
    return hardness_counts(parse_any(sql, "sqlite")[0])


# --- component 1: clauses, joins, OR, LIKE -------------------------------------------------

def test_each_clause_counts_once_in_component1():
    # WHERE, GROUP BY, ORDER BY and LIMIT: one each, whatever they hold; HAVING adds nothing itself.
    assert counts("SELECT a FROM t WHERE a = 1 AND b = 2 GROUP BY a HAVING count(*) > 1 "
                  "ORDER BY a, b LIMIT 3").component1 == 4


def test_each_join_counts_in_component1():
    # Three FROM items: two joins. A comma join is a FROM item like any other.
    assert counts("SELECT * FROM a JOIN b ON a.x = b.x JOIN c ON b.y = c.y").component1 == 2
    assert counts("SELECT * FROM a, b").component1 == 1


def test_or_and_like_count_in_on_where_and_having():
    # One OR in ON, one LIKE in WHERE (with WHERE itself), one OR in HAVING (with GROUP BY).
    sql = ("SELECT k FROM a JOIN b ON a.x = b.x OR a.y = b.y WHERE a.n LIKE 'x%' "
           "GROUP BY k HAVING count(*) > 1 OR max(v) < 2")
    assert counts(sql).component1 == 1 + 1 + 1 + 1 + 1 + 1  # join, OR, WHERE, LIKE, GROUP BY, OR


def test_not_like_is_a_like():
    assert counts("SELECT a FROM t WHERE a NOT LIKE '%x%'").component1 == 2


# --- component 2: nested queries and set operations -----------------------------------------

def test_subqueries_in_conditions_count_in_component2():
    # Two subqueries as values in WHERE: two nested queries.
    sql = "SELECT a FROM t WHERE a IN (SELECT a FROM s) AND b > (SELECT avg(b) FROM t)"
    assert counts(sql).component2 == 2


def test_a_set_operation_counts_once_however_long():
    # The official parser nests `A UNION B EXCEPT C` as A with one set operation.
    assert counts("SELECT a FROM t UNION SELECT a FROM s EXCEPT SELECT a FROM r").component2 == 1


def test_a_subquery_in_from_is_not_nested():
    # The official counts only subqueries used as condition values (and set operations).
    assert counts("SELECT count(*) FROM (SELECT a FROM t GROUP BY a)").component2 == 0


def test_only_the_outermost_select_is_counted():
    # The subquery's WHERE, GROUP BY and joins are not the outer query's clauses.
    inner = "SELECT a FROM s JOIN r ON s.x = r.x WHERE s.b = 1 OR s.c = 2 GROUP BY a"
    assert counts(f"SELECT a FROM t WHERE a IN ({inner})") == HardnessCounts(1, 1, 0)


def test_a_set_operations_order_and_limit_belong_to_its_last_part():
    # The official parser reads ORDER BY/LIMIT after a UNION into the right-hand query.
    assert counts("SELECT a FROM t UNION SELECT a FROM s ORDER BY a LIMIT 1").component1 == 0


# --- others ---------------------------------------------------------------------------------

def test_more_than_one_aggregate_counts_once():
    assert counts("SELECT count(*) FROM t").others == 0
    assert counts("SELECT max(a) FROM t ORDER BY count(*)").others == 1  # one in SELECT, one in ORDER BY


def test_more_than_one_select_item_where_condition_or_group_item_count():
    assert counts("SELECT a, b FROM t").others == 1
    assert counts("SELECT a FROM t WHERE a = 1 AND b = 2").others == 1
    assert counts("SELECT a FROM t GROUP BY a, b").others == 1


def test_negated_where_conditions_count_as_aggregates_as_in_the_official_code():
    # The official aggregate count tests `cond_unit[0]`, which is the NOT flag: two NOTs, one rule hit
    # (plus the two WHERE conditions).
    assert counts("SELECT a FROM t WHERE a NOT IN (SELECT a FROM s) AND b NOT LIKE 'x'").others == 2
    assert counts("SELECT a FROM t WHERE a IN (SELECT a FROM s) AND b LIKE 'x'").others == 1


def test_having_connectors_count_as_aggregates_and_its_compared_aggregates_do_not():
    # HAVING count(*) > 1: the aggregate there is not counted ...
    assert counts("SELECT a FROM t GROUP BY a HAVING count(*) > 1 AND sum(b) > 2").others == 0 + 0
    # ... but "and"/"or" are (the official tests "and"[0] != 0): one AND plus count(*) in SELECT.
    assert counts("SELECT count(*) FROM t GROUP BY a HAVING count(*) > 1 AND sum(b) > 2").others == 1


def test_is_not_null_is_not_a_negated_condition():
    assert counts("SELECT a FROM t WHERE a IS NOT NULL").others == 0


# --- thresholds and the class ----------------------------------------------------------------

@pytest.mark.parametrize("c1, c2, others, level", [
    (1, 0, 0, "easy"),
    (2, 0, 0, "medium"),  # two components, nothing else
    (1, 0, 2, "medium"),  # one component, two others
    (2, 0, 2, "extra"),  # two components and two others fit no rule below extra
    (2, 0, 3, "hard"),  # ... while three others with two components are hard
    (3, 0, 2, "hard"),
    (0, 1, 0, "hard"),  # one nested query, nothing else
    (4, 0, 0, "extra"),
    (1, 1, 1, "extra"),
    (0, 2, 0, "extra"),
])
def test_thresholds_are_the_official_ones(c1, c2, others, level):
    assert HardnessCounts(c1, c2, others).level == level


@pytest.mark.parametrize("sql, official", [
    # Labels the official code gives (taoyds/spider's process_sql.get_sql + Evaluator.eval_hardness,
    # run by benchmarks/bench_hardness.py, which has these queries among its 75).
    ("SELECT count(*) FROM singer", "easy"),
    ("SELECT name FROM singer WHERE country NOT LIKE '%an%'", "medium"),
    ("SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'", "medium"),
    ("SELECT country FROM singer GROUP BY country HAVING count(*) > 1 OR min(age) < 20", "medium"),
    ("SELECT count(*) FROM concert WHERE theme LIKE '%Happy%' OR concert_name LIKE '%Auditions%'", "extra"),
    ("SELECT song_name FROM singer WHERE age > (SELECT avg(age) FROM singer)", "hard"),
    ("SELECT name FROM singer UNION SELECT concert_name FROM concert", "hard"),
    ("SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id "
     "JOIN concert AS T3 ON T1.concert_id = T3.concert_id WHERE T3.year = 2014", "hard"),
    ("SELECT year FROM concert GROUP BY year ORDER BY count(*) DESC LIMIT 1", "hard"),
    ("SELECT name FROM singer WHERE age = (SELECT max(age) FROM singer) OR age = (SELECT min(age) FROM singer)",
     "extra"),
    ("SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age < 30", "hard"),
    ("SELECT stadium_id, count(*) FROM concert GROUP BY stadium_id HAVING count(*) >= 2 "
     "ORDER BY count(*) DESC LIMIT 3", "hard"),
])
def test_labels_agree_with_the_official_code(sql, official):
    assert spider_hardness(sql) == official


def test_what_is_not_one_query_has_no_class():
    # DML, two statements, text sqlglot cannot parse: no Spider class.
    assert spider_hardness("INSERT INTO t VALUES (1)") is None
    assert spider_hardness("SELECT 1; SELECT 2") is None
    assert spider_hardness("SELECT FROM WHERE (") is None
