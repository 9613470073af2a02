"""References resolved through sqlglot scopes: what cleansing and schema linking rely on."""

from __future__ import annotations

from sqlgrpo.sql.analysis import missing_references, parse_statements, references

SCHEMA = {
    "orders": ["id", "customer_id", "total", "placed_on"],
    "customers": ["id", "name", "city"],
}


def test_aliases_resolve_to_their_tables():
    # o and c are aliases: the columns belong to orders and customers, nothing is missing.
    refs = references("SELECT c.name, o.total FROM orders o JOIN customers c ON o.customer_id = c.id", "sqlite", SCHEMA)
    assert refs.tables == {"orders", "customers"}
    assert ("customers", "name") in refs.columns and ("orders", "customer_id") in refs.columns
    assert missing_references(refs, SCHEMA) == []


def test_cte_names_and_derived_columns_are_not_schema():
    # `big` is a CTE and `n` a derived column: neither is a table or column of the context.
    sql = ("WITH big AS (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY customer_id) "
           "SELECT c.name, big.n FROM big JOIN customers c ON c.id = big.customer_id ORDER BY n DESC")
    refs = references(sql, "sqlite", SCHEMA)
    assert "big" not in refs.tables
    assert missing_references(refs, SCHEMA) == []


def test_select_alias_in_order_by_is_not_missing():
    # ORDER BY may name a SELECT alias.
    refs = references("SELECT city, COUNT(*) AS cnt FROM customers GROUP BY city ORDER BY cnt", "sqlite", SCHEMA)
    assert missing_references(refs, SCHEMA) == []


def test_subquery_columns_resolve_in_their_own_scope():
    # `name` exists only in customers, the subquery's table; it must not be charged to orders.
    sql = "SELECT total FROM orders WHERE customer_id = (SELECT id FROM customers WHERE name = 'Ana')"
    refs = references(sql, "sqlite", SCHEMA)
    assert ("customers", "name") in refs.columns
    assert missing_references(refs, SCHEMA) == []


def test_correlated_subquery_sees_outer_alias():
    sql = "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)"
    assert missing_references(references(sql, "sqlite", SCHEMA), SCHEMA) == []


def test_missing_column_is_reported():
    # orders has no price column; there is no other table it could come from.
    assert missing_references(references("SELECT price FROM orders", "sqlite", SCHEMA), SCHEMA) == ["column price"]


def test_missing_table_is_reported():
    # products is not in the context; its columns cannot be judged, the table itself is missing.
    refs = references("SELECT p.price FROM orders JOIN products p ON p.id = orders.id", "sqlite", SCHEMA)
    assert missing_references(refs, SCHEMA) == ["table products"]


def test_dml_targets_and_columns_are_checked():
    # UPDATE/INSERT/DELETE roots have no sqlglot scope; their columns are still resolved.
    assert missing_references(references("UPDATE orders SET total = 0 WHERE id = 3", "sqlite", SCHEMA), SCHEMA) == []
    refs = references("INSERT INTO orders (id, discount) VALUES (9, 0.1)", "sqlite", SCHEMA)
    assert missing_references(refs, SCHEMA) == ["column orders.discount"]
    refs = references("DELETE FROM customers WHERE town = 'Lyon'", "sqlite", SCHEMA)
    assert missing_references(refs, SCHEMA) == ["column town"]


def test_double_quoted_unknown_name_is_a_string_for_sqlite():
    # SQLite (like MySQL) reads "USA" as a string when no such column exists.
    refs = references('SELECT name FROM customers WHERE city = "Paris"', "sqlite", SCHEMA)
    assert missing_references(refs, SCHEMA, quoted_strings=True) == []
    assert missing_references(refs, SCHEMA, quoted_strings=False) == ["column paris"]


def test_unparsable_and_oversized_text_give_none():
    # None means "sqlglot cannot tell", which cleansing treats as unverified, not as missing.
    assert parse_statements("SELEC FROM WHERE (((") is None
    assert references("SELECT 1 FROM t WHERE " + "x = 1 AND " * 5000 + "1", "sqlite") is None
    assert references(None, "sqlite") is None  # type: ignore[arg-type]
