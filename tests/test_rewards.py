"""The reward functions: TRL's contract, answer format, SQL extraction, execution outcomes on
real SQLite/DuckDB databases, AST-based structure, schema linking, reasoning, and the registry."""

from __future__ import annotations

import json

import pytest

from sqlgrpo.scoring.answers import extract_sql, parse_answer
from sqlgrpo.scoring.rewards import (
    DEFAULT_WEIGHTS,
    EXECUTABLE_TIED_METRIC,
    REWARDS,
    complexity_reward,
    EXECUTABLE_SHAPE_FLOOR,
    executable_reward,
    execution_reward,
    get_reward,
    reasoning_reward,
    schema_linking_reward,
    SHAPED_FEATURE_WEIGHTS,
    clause_similarity,
    shaped_executable_reward,
    shaped_executable_score,
    soft_format_reward,
    strict_format_reward,
    tied_group_share,
)
from sqlgrpo.scoring.verdict import EXEC_FAILED, EXEC_MATCH, EXEC_RAN_WRONG
from sqlgrpo.sql import execute

CTX = ("CREATE TABLE customers (id INT, name TEXT, city TEXT); "
       "CREATE TABLE orders (id INT, customer_id INT, total REAL, status TEXT); "
       "INSERT INTO customers VALUES (1, 'Ana', 'Oslo'), (2, 'Bo', 'Rome'), (3, 'Cy', 'Oslo'); "
       "INSERT INTO orders VALUES (1, 1, 10.5, 'paid'), (2, 1, 20, 'open'), (3, 2, 5, 'paid'), (4, 3, 7.25, 'paid');")
GOLD = ("SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id "
        "WHERE o.status = 'paid' GROUP BY c.name")
REASONING = "Join orders to customers on customer_id, keep paid orders, and sum total per customer name."
GOOD = f"<reasoning>{REASONING}</reasoning>\n<sql>{GOLD}</sql>"


def _chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _score(name: str, completions: list, gold: str = GOLD, ctx: str = CTX, **extra) -> list:
    n = len(completions)
    return REWARDS[name](completions, sql=[gold] * n, sql_context=[ctx] * n, **extra)


def _exec(completion, gold: str = GOLD, ctx: str = CTX, **extra) -> float | None:
    return execution_reward([completion], sql=[gold], sql_context=[ctx], **extra)[0]


# --- TRL's contract, for every registered reward -------------------------------------------------

BATCH = [GOOD, _chat(GOOD), "no sql at all", "<sql>SELECT name FROM customers</sql>", _chat("")]


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_returns_one_float_or_none_per_completion(name):
    out = _score(name, BATCH)
    assert isinstance(out, list) and len(out) == len(BATCH)
    assert all(v is None or type(v) is float for v in out)


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_chat_format_scores_like_plain_text(name):
    # TRL's conversational completions are lists of messages; the assistant content is the text.
    texts = [GOOD, "<sql>SELECT name FROM customers</sql>", "<reasoning>r</reasoning>"]
    assert _score(name, [_chat(t) for t in texts]) == _score(name, texts)


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_trl_keyword_call_with_extra_columns_is_accepted(name):
    # TRL calls reward_func(prompts=..., completions=..., completion_ids=..., **every dataset column,
    # trainer_state=...): all keywords, most of them unknown to the reward, which must ignore them.
    completions = [GOOD, "<sql>SELECT name FROM customers</sql>"]
    out = REWARDS[name](prompts=[[{"role": "user", "content": "Paid totals?"}]] * 2, completions=completions,
                        completion_ids=[[1, 2, 3], [4, 5]], sql=[GOLD] * 2, sql_context=[CTX] * 2,
                        sql_prompt=["Paid totals?"] * 2, domain=["retail"] * 2, trainer_state=object())
    assert out == _score(name, completions)


def test_extra_kwargs_do_not_change_execution_scores():
    # Guards the test above with known values: a match and a wrong filter.
    out = execution_reward(completions=[GOOD, "<sql>SELECT name, 0 FROM customers</sql>"], sql=[GOLD] * 2,
                           sql_context=[CTX] * 2, prompts=["q"] * 2, completion_ids=[[1], [2]], trainer_state=None)
    assert out == [EXEC_MATCH, EXEC_RAN_WRONG]


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_empty_batch_gives_empty_list(name):
    assert REWARDS[name]([], sql=[], sql_context=[]) == []


def test_gold_with_a_missing_table_is_not_judged():
    # The gold itself fails: execution cannot judge, so None, never a fake 0.0 ...
    out = execution_reward([GOOD, "<sql>SELECT 1</sql>", "nothing"], sql=["SELECT * FROM invoices"] * 3,
                           sql_context=[CTX] * 3)
    assert out == [None, None, None]


def test_context_that_does_not_build_is_not_judged():
    # No database, no outcome to compare with.
    assert _exec(GOOD, ctx="CREATE TABLE (broken") is None


def test_none_only_where_the_gold_fails():
    # A batch mixing a good gold and a broken one: None exactly at the broken one.
    out = execution_reward([GOOD, GOOD], sql=[GOLD, "SELECT nope FROM customers"], sql_context=[CTX] * 2)
    assert out == [EXEC_MATCH, None]


def test_no_sql_against_a_good_gold_is_zero_not_none():
    # The gold runs, so the sample is judgeable: a completion without SQL has failed.
    assert _exec("I don't know.") == EXEC_FAILED


# --- format ------------------------------------------------------------------------------------

FORMAT_CASES = [
    # (name, completion, strict, soft)
    ("exact", "<reasoning>\nsum totals\n</reasoning>\n<sql>\nSELECT 1\n</sql>", 1.0, 1.0),
    ("exact, upper-case tags", "<REASONING>sum</REASONING><SQL>SELECT 1</SQL>", 1.0, 1.0),
    # Text outside the blocks breaks strict; soft only counts the blocks.
    ("text before", "Sure!\n<reasoning>sum</reasoning><sql>SELECT 1</sql>", 0.0, 1.0),
    ("text after", "<reasoning>sum</reasoning><sql>SELECT 1</sql>\nHope this helps.", 0.0, 1.0),
    # sql before reasoning: both blocks and non-empty SQL, but not in order.
    ("out of order", "<sql>SELECT 1</sql><reasoning>sum</reasoning>", 0.0, 0.75),
    # Each tag must appear once for strict.
    ("repeated reasoning", "<reasoning>a</reasoning><reasoning>b</reasoning><sql>SELECT 1</sql>", 0.0, 1.0),
    ("repeated sql", "<reasoning>a</reasoning><sql>SELECT 1</sql><sql>SELECT 2</sql>", 0.0, 1.0),
    # Unclosed blocks earn nothing for themselves.
    ("unclosed sql", "<reasoning>sum</reasoning><sql>SELECT 1", 0.0, 0.25),
    ("unclosed reasoning", "<reasoning>sum<sql>SELECT 1</sql>", 0.0, 0.5),
    # Empty blocks: strict refuses; soft withholds the non-empty-SQL quarter only for the SQL.
    ("empty sql", "<reasoning>sum</reasoning><sql>  </sql>", 0.0, 0.75),
    ("empty reasoning", "<reasoning> </reasoning><sql>SELECT 1</sql>", 0.0, 1.0),
    ("no tags", "SELECT 1", 0.0, 0.0),
    ("empty", "", 0.0, 0.0),
]


@pytest.mark.parametrize("name,completion,strict,soft", FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_strict_format(name, completion, strict, soft):
    assert strict_format_reward([completion]) == [strict]


@pytest.mark.parametrize("name,completion,strict,soft", FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_soft_format(name, completion, strict, soft):
    assert soft_format_reward([completion]) == [soft]


def test_soft_format_is_never_below_strict():
    # Whatever strict accepts, soft gives full credit to.
    completions = [c[1] for c in FORMAT_CASES]
    for strict, soft in zip(strict_format_reward(completions), soft_format_reward(completions)):
        assert soft >= strict


# --- SQL extraction ----------------------------------------------------------------------------

def test_tags_win_over_a_fence():
    # Both present: the tagged SQL is the answer.
    answer = parse_answer("```sql\nSELECT 2\n```\n<sql>SELECT 1</sql>")
    assert (answer.sql, answer.sql_source) == ("SELECT 1", "tags")


def test_fence_wins_over_a_bare_statement():
    # A bare statement comes first in the text, but a fenced block is more deliberate.
    answer = parse_answer("SELECT 3 FROM t\n\n```sql\nSELECT 2\n```")
    assert (answer.sql, answer.sql_source) == ("SELECT 2", "fence")


def test_empty_tags_fall_back_to_the_fence():
    answer = parse_answer("<sql> </sql>\n```sql\nSELECT 2\n```")
    assert (answer.sql, answer.sql_source) == ("SELECT 2", "fence")


def test_bare_statement_is_taken_to_the_end_of_its_paragraph():
    # Prose after a blank line is not SQL.
    answer = parse_answer("The answer is:\nSELECT name FROM customers\n\nThat lists every name.")
    assert (answer.sql, answer.sql_source) == ("SELECT name FROM customers", "bare")


def test_fence_inside_tags_is_unwrapped():
    assert extract_sql("<sql>\n```sql\nSELECT 5\n```\n</sql>") == "SELECT 5"


def test_non_sql_fence_is_not_sql():
    # A python block is not SQL, and there is no SQL keyword anywhere.
    assert extract_sql("```python\nprint(1)\n```") is None


def test_no_sql_at_all():
    assert parse_answer("I cannot answer that.").sql_source == "none"
    assert extract_sql("I cannot answer that.") is None


def test_untagged_sql_still_gets_an_execution_signal():
    # A model that has not learned the tags but writes the right query is rewarded by execution.
    assert _exec(f"```sql\n{GOLD}\n```") == EXEC_MATCH
    assert _exec(f"Here it is:\n{GOLD}") == EXEC_MATCH


# --- execution ---------------------------------------------------------------------------------

def test_correct_query_with_other_aliases_and_column_order_matches():
    # Different aliases, different column order, SUM before name: the same answer.
    pred = ("<sql>SELECT SUM(orders.total) AS paid, customers.name AS who FROM orders "
            "JOIN customers ON orders.customer_id = customers.id WHERE orders.status = 'paid' "
            "GROUP BY customers.name</sql>")
    assert _exec(pred) == EXEC_MATCH


def test_wrong_filter_ran_wrong():
    # Without the status filter Ana's open order is counted: runs, different rows.
    pred = "<sql>SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name</sql>"
    assert _exec(pred) == EXEC_RAN_WRONG


def test_broken_sql_failed():
    assert _exec("<sql>SELEC name FROM customers</sql>") == EXEC_FAILED


def test_missing_column_failed():
    assert _exec("<sql>SELECT surname FROM customers</sql>") == EXEC_FAILED


@pytest.mark.parametrize("pred", ["DELETE FROM orders", "DELETE FROM customers RETURNING *",
                                  "UPDATE orders SET total = 0", "DROP TABLE orders",
                                  "DELETE FROM orders; " + GOLD])
def test_modifying_statement_for_a_question_is_zero(pred):
    # A question is never answered by changing the database, even when the last result set is
    # exactly the gold's (the last case) or RETURNING hands back rows. The upstream recipe gave
    # 0.6/1.2 to DELETE FROM <table> here.
    assert _exec(f"<sql>{pred}</sql>") == 0.0


DML_GOLD = "UPDATE orders SET status = 'paid' WHERE id = 2"


def test_select_for_a_dml_gold_is_zero():
    # The task is an update; reading the table performs nothing.
    assert _exec("<sql>SELECT * FROM orders</sql>", gold=DML_GOLD) == 0.0


def test_equivalent_dml_matches():
    # Order 2 is the only open order: the same final state, written differently.
    assert _exec("<sql>UPDATE orders SET status = 'paid' WHERE status = 'open'</sql>", gold=DML_GOLD) == EXEC_MATCH


def test_different_dml_ran_wrong():
    # Updates another row: runs, another final state.
    assert _exec("<sql>UPDATE orders SET status = 'paid' WHERE id = 3</sql>", gold=DML_GOLD) == EXEC_RAN_WRONG


def test_delete_for_an_update_gold_ran_wrong():
    # Both modify the database, so it is judged by state, and the states differ.
    assert _exec("<sql>DELETE FROM orders WHERE id = 2</sql>", gold=DML_GOLD) == EXEC_RAN_WRONG


ORDERED_GOLD = "SELECT name FROM customers ORDER BY name"


def test_reversed_order_for_an_ordered_gold_is_not_a_match():
    # The question asks for an order; the reverse is another answer.
    assert _exec("<sql>SELECT name FROM customers ORDER BY name DESC</sql>", gold=ORDERED_GOLD) == EXEC_RAN_WRONG
    assert _exec("<sql>SELECT name FROM customers ORDER BY name</sql>", gold=ORDERED_GOLD) == EXEC_MATCH


def test_any_order_matches_an_unordered_gold():
    # The gold has no ORDER BY: row order carries no meaning.
    assert _exec("<sql>SELECT name FROM customers ORDER BY name DESC</sql>", gold="SELECT name FROM customers") \
        == EXEC_MATCH


def test_order_by_inside_a_subquery_does_not_order_the_result():
    # Only a top-level ORDER BY makes row order part of the answer.
    gold = "SELECT name FROM (SELECT name FROM customers ORDER BY name LIMIT 3)"
    assert _exec("<sql>SELECT name FROM customers ORDER BY name DESC</sql>", gold=gold) == EXEC_MATCH


def test_duckdb_backend_is_used_when_the_row_says_so():
    # `list_sum` exists in DuckDB only: the same completion fails on SQLite and matches on DuckDB.
    ctx = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);"
    gold = "SELECT SUM(x) FROM t"
    pred = "<sql>SELECT list_sum(list(x)) FROM t</sql>"
    assert execution_reward([pred], sql=[gold], sql_context=[ctx], backend=["duckdb"]) == [EXEC_MATCH]
    assert execution_reward([pred], sql=[gold], sql_context=[ctx]) == [EXEC_FAILED]


def test_large_batch_keeps_completion_order():
    # Batches of 4+ run in a thread pool; results must come back in completion order.
    wrong = "<sql>SELECT name, 1 FROM customers</sql>"
    completions = [GOOD, wrong, "<sql>nope</sql>"] * 4
    out = execution_reward(completions, sql=[GOLD] * 12, sql_context=[CTX] * 12)
    assert out == [EXEC_MATCH, EXEC_RAN_WRONG, EXEC_FAILED] * 4


def test_shared_gretel_golds_match_themselves(shared_gretel_path):
    # The gold, wrapped in the answer format, is the gold's outcome on every row where it runs as
    # written, and None (not judged) on every row where the gold fails.
    rows = [json.loads(line) for line in shared_gretel_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 900
    golds = [r["sql"] for r in rows]
    contexts = [r["sql_context"] for r in rows]
    outcomes = [execute(g, c) for g, c in zip(golds, contexts)]
    completions = [f"<reasoning>The gold.</reasoning><sql>{g}</sql>" for g in golds]
    scores = execution_reward(completions, sql=golds, sql_context=contexts)
    as_written = [s for o, s in zip(outcomes, scores) if o.ok and o.dialect == "as_written"]
    failing = [s for o, s in zip(outcomes, scores) if not o.ok]
    assert len(as_written) > 800 and failing  # the sample really has both kinds
    assert all(s == EXEC_MATCH for s in as_written)
    assert all(s is None for s in failing)


# --- complexity (AST) --------------------------------------------------------------------------

JOIN_GOLD = "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id"


def test_same_structure_scores_one():
    pred = "<sql>SELECT customers.city FROM orders JOIN customers ON customers.id = orders.customer_id</sql>"
    assert complexity_reward([pred], sql=[JOIN_GOLD]) == [1.0]


def test_missing_structure_scores_lower():
    # The gold has a join and the prediction none: nothing in common, 0.0.
    assert complexity_reward(["<sql>SELECT name FROM customers</sql>"], sql=[JOIN_GOLD]) == [0.0]


def test_keywords_inside_string_literals_are_not_structure():
    # 'JOIN' and 'GROUP BY' inside strings are values: the prediction is as plain as the gold
    # (one WHERE each), and it has no join to offer the join gold.
    pred = "<sql>SELECT name FROM customers WHERE city = 'x JOIN y GROUP BY z'</sql>"
    assert complexity_reward([pred], sql=["SELECT name FROM customers WHERE id = 1"]) == [1.0]
    assert complexity_reward(["<sql>SELECT 'JOIN' AS j FROM customers</sql>"], sql=[JOIN_GOLD]) == [0.0]


def test_partial_structure_is_a_ratio():
    # Gold: aggregate + GROUP BY + WHERE (3); prediction: aggregate + GROUP BY (2): 2/3.
    gold = "SELECT city, COUNT(*) FROM customers WHERE id > 0 GROUP BY city"
    pred = "<sql>SELECT city, COUNT(*) FROM customers GROUP BY city</sql>"
    assert complexity_reward([pred], sql=[gold]) == [pytest.approx(2 / 3)]


def test_delete_for_a_select_gold_earns_no_structure_credit():
    # Execution gives a DELETE for a question 0.0; complexity (weight 0.6) must not pay it instead.
    assert complexity_reward(["<sql>DELETE FROM customers</sql>"], sql=["SELECT name FROM customers"]) == [0.0]


def test_destructive_statement_before_the_gold_is_not_the_gold_structure():
    # `DROP TABLE orders; <gold>` is the gold plus a statement the gold does not have.
    assert complexity_reward([f"<sql>DROP TABLE orders; {GOLD}</sql>"], sql=[GOLD]) != [1.0]


def test_unparseable_prediction_scores_zero_and_unparseable_gold_none():
    assert complexity_reward(["<sql>SELECT FROM WHERE (((</sql>"], sql=[JOIN_GOLD]) == [0.0]
    assert complexity_reward([GOOD], sql=["SELECT FROM WHERE ((("]) == [None]


# --- schema linking -------------------------------------------------------------------------------

def test_schema_linking_jaccard_values():
    # Gold uses {customers, customers.name}.
    completions = [
        "<sql>SELECT name FROM customers</sql>",  # same names: 2/2
        "<sql>SELECT city FROM customers</sql>",  # {customers} shared of {customers, .name, .city}: 1/3
        "<sql>SELECT name, city FROM customers</sql>",  # 2 shared of 3: 2/3
        "<sql>SELECT total FROM orders</sql>",  # nothing shared: 0
        "no sql",  # nothing used: 0
    ]
    out = schema_linking_reward(completions, sql=["SELECT name FROM customers"] * 5, sql_context=[CTX] * 5)
    assert out == [1.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 0.0, 0.0]


def test_schema_linking_sees_through_aliases():
    # c.name with c = customers is customers.name.
    out = schema_linking_reward(["<sql>SELECT c.name FROM customers AS c</sql>"], sql=["SELECT name FROM customers"],
                                sql_context=[CTX])
    assert out == [1.0]


# --- reasoning ---------------------------------------------------------------------------------

R_SQL = "<sql>SELECT SUM(total) FROM orders WHERE status = 'paid'</sql>"


def _reason(text: str) -> float:
    return reasoning_reward([f"<reasoning>{text}</reasoning>{R_SQL}"], sql_context=[CTX])[0]


def test_reasoning_naming_what_the_sql_uses_scores_full():
    # Names orders, total and status (everything the SQL uses), 8-250 words, nothing invented.
    assert _reason("Sum the total column of the orders table where status is paid.") == 1.0


def test_reasoning_naming_nothing_loses_the_linking_half():
    # Same length band, no invented names, but none of the SQL's tables or columns named.
    assert _reason("Add up the money of every purchase that has already been settled.") == 0.5


def test_reasoning_inventing_an_identifier_is_penalized():
    # order_amounts exists nowhere in the schema: one penalty (0.25 of the honesty quarter).
    honest = _reason("Sum the total column of the orders table where status is paid.")
    invented = _reason("Sum the total column of the orders table where status is paid, not order_amounts.")
    assert invented == honest - 0.25 * 0.25


def test_no_reasoning_scores_zero():
    assert reasoning_reward([R_SQL, ""], sql_context=[CTX] * 2) == [0.0, 0.0]


def test_common_abbreviations_are_not_invented_identifiers():
    # "i.e." names nothing; the penalty is for invented table/column names.
    plain = _reason("Sum the total column of the orders table where status is paid.")
    assert _reason("Sum the total column of the orders table where status is paid, i.e. settled.") == plain


def test_alias_qualified_names_of_the_sql_are_not_invented():
    # The SQL aliases orders as o, so o.total and o.status are orders.total and orders.status.
    sql = "<sql>SELECT SUM(o.total) FROM orders AS o WHERE o.status = 'paid'</sql>"
    reasoning = "Sum o.total over the orders table, keeping rows whose o.status is paid."
    assert reasoning_reward([f"<reasoning>{reasoning}</reasoning>{sql}"], sql_context=[CTX]) == [1.0]


# --- registry --------------------------------------------------------------------------------------

def test_registry_keys_are_function_names():
    # Config keys, registry keys and TRL's log names are one and the same.
    assert all(fn.__name__ == key for key, fn in REWARDS.items())
    assert set(REWARDS) == {"strict_format_reward", "soft_format_reward", "execution_reward", "executable_reward",
                            "shaped_executable_reward", "result_similarity_reward", "complexity_reward", "reasoning_reward",
                            "schema_linking_reward"}


def test_get_reward_returns_the_registered_function():
    assert get_reward("execution_reward") is execution_reward


def test_unknown_reward_lists_the_valid_names():
    with pytest.raises(KeyError) as err:
        get_reward("nope")
    message = str(err.value)
    assert "nope" in message and all(name in message for name in REWARDS)


def test_default_weights():
    # The original recipe's weights; strict format, schema linking and executability are logged, not
    # trained on.
    assert DEFAULT_WEIGHTS == {"soft_format_reward": 1.0, "execution_reward": 1.2, "complexity_reward": 0.6,
                               "reasoning_reward": 0.7, "strict_format_reward": 0.0, "schema_linking_reward": 0.0,
                               "executable_reward": 0.0, "shaped_executable_reward": 0.0, "result_similarity_reward": 0.0}
    assert set(DEFAULT_WEIGHTS) == set(REWARDS)


# --- executability ----------------------------------------------------------------------------

def test_executable_reward_credits_sql_that_runs_right_or_wrong():
    answers = [GOOD,                                                     # right
               "<sql>SELECT name FROM customers</sql>",                  # runs, wrong
               "<sql>SELECT nickname FROM customers</sql>",              # a column that does not exist
               "<sql>SELECT total FROM invoices</sql>",                  # a table that does not exist
               "<sql>SELEC name FROM customers</sql>",                   # syntax
               "<sql>DELETE FROM orders</sql>",                          # runs, but not a question's kind
               "no sql at all"]
    assert _score("executable_reward", answers) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    # Never disagrees with the execution reward: it runs exactly where that one gives credit.
    assert [e > EXEC_FAILED for e in _score("execution_reward", answers)] == \
        [x == 1.0 for x in _score("executable_reward", answers)]


def test_executable_reward_cannot_judge_where_the_gold_fails():
    assert executable_reward(["<sql>SELECT 1</sql>"], sql=["SELECT nope FROM customers"], sql_context=[CTX]) == [None]


def test_executable_reward_logs_the_share_of_groups_whose_sql_all_runs_or_all_fails():
    # Under GRPO, TRL passes the prompts (a prompt's completions side by side) and log_metric. Three
    # groups: all run, mixed, all fail; a fourth whose gold fails cannot be judged and is not counted.
    wrong, missing = "<sql>SELECT name FROM customers</sql>", "<sql>SELECT nickname FROM customers</sql>"
    answers = [GOOD, wrong, GOOD, missing, missing, missing, "<sql>SELECT 1</sql>", GOOD]
    prompts = ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4"]
    golds = [GOLD] * 6 + ["SELECT nope FROM customers"] * 2
    logged: list[tuple[str, float]] = []
    scores = executable_reward(answers, sql=golds, sql_context=[CTX] * 8, prompts=prompts,
                               log_metric=lambda name, value: logged.append((name, value)))
    assert scores == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, None, None]
    assert logged == [(EXECUTABLE_TIED_METRIC, pytest.approx(2 / 3))]
    # Outside GRPO (eval, audit) nothing is logged, and nothing breaks without prompts.
    assert executable_reward(answers[:2], sql=golds[:2], sql_context=[CTX] * 2) == [1.0, 1.0]


def test_shaped_executable_reward_pays_for_running_in_proportion_to_the_gold_structure():
    # GOLD has a join, an aggregate, a GROUP BY and a WHERE; the shaped reward weighs WHERE at half.
    answers = [GOOD,                                                               # runs, the gold's shape
               "<sql>SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id "
               "WHERE o.status = 'open' GROUP BY c.name</sql>",                    # runs, wrong, same shape
               "<sql>SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id "
               "GROUP BY c.name</sql>",                                            # runs, no WHERE: 3 of 3.5
               "<sql>SELECT SUM(total) FROM orders WHERE status = 'paid'</sql>",   # aggregate, WHERE: 1.5 of 3.5
               "<sql>SELECT name FROM customers WHERE city = 'Oslo'</sql>",        # a lookup: WHERE only, 0.5 of 3.5
               "<sql>SELECT name FROM customers</sql>",                            # no structure at all
               "<sql>SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id "
               "GROUP BY c.name</sql>",                                            # the shape, a column invented
               "<sql>DELETE FROM orders</sql>", "no sql at all"]
    floor = EXECUTABLE_SHAPE_FLOOR  # what an answer that runs keeps whatever its clauses
    def shaped(similarity):
        return pytest.approx(floor + (1 - floor) * similarity)
    assert _score("shaped_executable_reward", answers) == [1.0, 1.0, shaped(6 / 7), shaped(3 / 7), shaped(1 / 7),
                                                           floor, 0.0, 0.0, 0.0]
    # The complexity reward still counts the WHERE: the lookup keeps a quarter of it there.
    assert _score("complexity_reward", answers)[4] == pytest.approx(1 / 4)
    # It never pays what the executable reward does not, nor more.
    flat = _score("executable_reward", answers)
    assert all(s <= f and (f == 0) == (s == 0) for s, f in zip(_score("shaped_executable_reward", answers), flat))
    # A kitchen-sink query that runs loses against a plain gold as a bare one does against GOOD,
    # and a lookup that runs earns it all where the gold is a lookup, one without its filter the floor.
    sink = "<sql>SELECT c.name, COUNT(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY 2 LIMIT 1</sql>"
    lookup_gold = "SELECT name FROM customers WHERE city = 'Paris'"
    assert _score("shaped_executable_reward", [sink, answers[4], answers[5]], gold=lookup_gold) == [floor, 1.0, floor]
    assert shaped_executable_reward(["<sql>SELECT 1</sql>"], sql=["SELECT nope FROM customers"], sql_context=[CTX]) == [None]


def test_result_similarity_reward_grades_how_close_the_result_comes_to_the_gold():
    # GOLD: the paid totals per customer name (3 rows of 2 columns).
    answers = [GOOD,
               "<sql>SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id "
               "GROUP BY c.name</sql>",                                            # every order: 2 sums of 3 differ
               "<sql>SELECT name FROM customers WHERE city = 'Oslo'</sql>",        # a lookup: 2 names of 3
               "<sql>SELECT * FROM orders</sql>",                                  # a table dumped
               "<sql>SELECT 1, 2</sql>",                                           # reads no table
               "<sql>SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id</sql>",
               "<sql>DELETE FROM orders</sql>", "no sql at all"]
    good, unfiltered, lookup, dump, constant, *failed = _score("result_similarity_reward", answers)
    assert good == 1.0 and failed == [0.0, 0.0, 0.0] and constant == 0.0
    assert 1.0 > unfiltered > lookup > dump > 0.0
    # A count answered by a lookup of ids earns less than a count with the wrong filter, and both
    # less than the count itself; the credit never exceeds what the execution reward allows.
    count_gold = "SELECT COUNT(*) FROM orders WHERE status = 'paid'"
    counts = ["<sql>SELECT COUNT(*) FROM orders WHERE status = 'paid'</sql>", "<sql>SELECT COUNT(*) FROM orders</sql>",
              "<sql>SELECT id FROM orders WHERE status = 'paid'</sql>"]
    right, wrong_filter, ids = _score("result_similarity_reward", counts, gold=count_gold)
    assert right == 1.0 > wrong_filter > ids
    assert _score("execution_reward", counts, gold=count_gold)[1:] == [EXEC_RAN_WRONG] * 2
    # An update: by the rows it changed; a gold that fails: None.
    update_gold = "UPDATE orders SET status = 'done' WHERE status = 'paid'"
    updates = ["<sql>UPDATE orders SET status = 'done' WHERE total < 8</sql>", "<sql>SELECT * FROM orders</sql>"]
    assert _score("result_similarity_reward", updates, gold=update_gold) == [pytest.approx(2 / 3), 0.0]
    assert _score("result_similarity_reward", [GOOD], gold="SELECT nope FROM customers") == [None]


def test_clause_similarity_is_the_structure_comparison_with_the_filter_at_half_weight():
    gold = ["SELECT a, COUNT(*) FROM t WHERE b > 1 GROUP BY a ORDER BY 2"] * 4
    answers = ["<sql>SELECT a, COUNT(*) FROM t GROUP BY a ORDER BY 2</sql>", "<sql>SELECT a FROM t WHERE b = 3</sql>",
               "<sql>SELECT a, COUNT(*) FROM t WHERE b > 1 GROUP BY a ORDER BY 2 LIMIT 3</sql>", "<sql>DELETE FROM t</sql>"]
    # The gold weighs 3.5: aggregate, GROUP BY, ORDER BY at 1.0 each, WHERE at SHAPED_FEATURE_WEIGHTS' 0.5.
    assert SHAPED_FEATURE_WEIGHTS["where"] == 0.5
    assert clause_similarity(answers, sql=gold) == [pytest.approx(3 / 3.5), pytest.approx(0.5 / 3.5),
                                                    pytest.approx(3.5 / 4.5), 0.0]
    assert complexity_reward(answers, sql=gold) == [pytest.approx(3 / 4), pytest.approx(1 / 4), pytest.approx(4 / 5), 0.0]
    assert clause_similarity(["<sql>SELECT 1</sql>"], sql=["SELECT FROM WHERE"]) == [None]


@pytest.mark.parametrize("executable, structure, expected", [
    (None, 0.5, None), (0.0, 1.0, 0.0), (1.0, None, 1.0), (1.0, 0.0, EXECUTABLE_SHAPE_FLOOR),
    (1.0, 0.5, EXECUTABLE_SHAPE_FLOOR + (1 - EXECUTABLE_SHAPE_FLOOR) / 2), (1.0, 1.0, 1.0),
])
def test_shaped_executable_score(executable, structure, expected):
    assert shaped_executable_score(executable, structure) == expected


@pytest.mark.parametrize("prompts, scores, share", [
    ([], [], None),
    (["a"], [1.0], None),                                   # a group of one says nothing
    (["a", "a", "a"], [None, 1.0, None], None),            # nor one left with one judged score
    (["a", "a", "b", "b", "a", "a"], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2 / 3),  # a prompt again later: its own group
    ([[{"role": "user", "content": "q"}]] * 2, [0.0, 1.0], 0.0),              # conversational prompts
])
def test_tied_group_share(prompts, scores, share):
    assert tied_group_share(prompts, scores) == (None if share is None else pytest.approx(share))


def test_a_select_star_answer_runs_but_scores_below_a_grounded_wrong_one_and_the_gold():
    # The reward hack a runnable-SQL reward invites: `SELECT * FROM t` runs for every question.
    # Under the demo's weights it must score below the gold and below a wrong answer shaped like
    # the question's query, and above nothing runnable only by the credit for running.
    from sqlgrpo.stages.config import resolve
    from sqlgrpo.stages.demo import demo_config_path

    weights = resolve("train", demo_config_path()).section.reward_weights
    assert weights.get("shaped_executable_reward", 0) > 0
    star = f"<reasoning>{REASONING}</reasoning>\n<sql>SELECT * FROM orders</sql>"
    shaped = (f"<reasoning>{REASONING}</reasoning>\n<sql>SELECT c.name, SUM(o.total) FROM customers c JOIN orders o "
              "ON o.customer_id = c.id WHERE o.status = 'open' GROUP BY c.name</sql>")
    invented = (f"<reasoning>{REASONING}</reasoning>\n<sql>SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o "
                "ON o.customer_id = c.id WHERE o.status = 'paid' GROUP BY c.name</sql>")
    answers = [GOOD, shaped, star, invented]
    total = [sum(w * (_score(name, answers)[i] or 0.0) for name, w in weights.items()) for i in range(len(answers))]
    gold, wrong_shaped, select_star, broken = total
    assert gold > wrong_shaped > select_star
    assert wrong_shaped > broken  # naming a column that does not exist costs more than a wrong filter


def test_a_one_column_lookup_that_runs_earns_well_below_a_wrong_answer_shaped_like_the_question():
    # The drift measured over 60 GRPO steps under flat credit for running: `SELECT col FROM t WHERE
    # a = b` for every question. What running adds to such a lookup must stay well below what it
    # adds to an answer in the gold's shape, or a policy whose shaped answers often fail is paid
    # more, on average, for giving up the question's structure.
    from sqlgrpo.stages.config import resolve
    from sqlgrpo.stages.demo import demo_config_path

    weights = resolve("train", demo_config_path()).section.reward_weights

    def total(answer: str) -> float:
        answer = f"<reasoning>{REASONING}</reasoning>\n<sql>{answer}</sql>"
        return sum(w * (_score(name, [answer])[0] or 0.0) for name, w in weights.items())

    lookup, lookup_broken = (total(f"SELECT name FROM customers WHERE {col} = 'Oslo'") for col in ("city", "town"))
    shaped, shaped_broken = (total("SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id "
                                   f"WHERE o.{col} = 'open' GROUP BY c.name") for col in ("status", "state"))
    assert lookup - lookup_broken < 0.5 * (shaped - shaped_broken)
