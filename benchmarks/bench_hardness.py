"""Agreement of `sqlgrpo.sql.hardness` with Spider's official difficulty labels.

    python benchmarks/bench_hardness.py SPIDER_CHECKOUT [--show-disagreements]

SPIDER_CHECKOUT is a checkout of taoyds/spider (a folder holding `evaluation.py` and
`process_sql.py`) or a bare clone of it (the files are read from its HEAD). The official labels
come from running its own code: `process_sql.get_sql` over the schema below, then
`evaluation.Evaluator().eval_hardness`. That code needs nltk (`pip install nltk`); when nltk's
sentence model is not downloaded, its Treebank word tokenizer (what `word_tokenize` applies to
each sentence) is used on the whole query, which is the same for one-line SQL.

The queries are Spider-style questions' golds over concert_singer's schema: joins (up to four
tables), nested queries in WHERE and FROM, set operations, GROUP BY/HAVING, ORDER BY/LIMIT,
LIKE/OR/NOT, written in the subset of SQL the official parser reads (every Spider gold is in it).
Prints the agreement, the confusion table and, when asked, each disagreement with both counts.
Skips (exit 0, a message) when the checkout or nltk is absent. Target: at least 90% agreement.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from sqlgrpo.sql.analysis import parse_any
from sqlgrpo.sql.hardness import HARDNESS_LEVELS, hardness_counts, spider_hardness

TARGET_AGREEMENT = 0.90
OFFICIAL_FILES = ("evaluation.py", "process_sql.py")

SCHEMA = {
    "stadium": ["stadium_id", "location", "name", "capacity", "highest", "lowest", "average"],
    "singer": ["singer_id", "name", "country", "song_name", "song_release_year", "age", "is_male"],
    "concert": ["concert_id", "concert_name", "theme", "stadium_id", "year"],
    "singer_in_concert": ["concert_id", "singer_id"],
}

J_CS = "concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id"
J_SIC_S = "singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id"
J_SIC_C = "singer_in_concert AS T1 JOIN concert AS T2 ON T1.concert_id = T2.concert_id"

QUERIES = [
    # one table, no clause or one
    "SELECT count(*) FROM singer",
    "SELECT * FROM concert",
    "SELECT count(DISTINCT country) FROM singer",
    "SELECT DISTINCT country FROM singer WHERE age > 20",
    "SELECT name FROM stadium ORDER BY capacity DESC LIMIT 3",
    "SELECT name, country FROM singer WHERE song_name LIKE '%Hey%'",
    "SELECT name FROM singer WHERE country NOT LIKE '%an%'",
    "SELECT sum(capacity) FROM stadium WHERE name LIKE '%Park%'",
    "SELECT name, country, age FROM singer ORDER BY age DESC",
    "SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'",
    "SELECT song_name, song_release_year FROM singer ORDER BY age LIMIT 1",
    "SELECT location, name FROM stadium WHERE capacity BETWEEN 5000 AND 10000",
    "SELECT max(capacity), average FROM stadium",
    "SELECT avg(capacity), max(capacity) FROM stadium",
    "SELECT name, capacity FROM stadium ORDER BY average DESC LIMIT 1",
    "SELECT theme FROM concert ORDER BY year DESC, concert_name ASC",
    "SELECT name, song_release_year FROM singer WHERE age NOT BETWEEN 20 AND 30",
    "SELECT name, country, age FROM singer WHERE is_male = 'F' ORDER BY age",
    "SELECT name FROM singer ORDER BY age + song_release_year DESC LIMIT 1",
    # several conditions, OR, LIKE
    "SELECT count(*) FROM concert WHERE year = 2014 OR year = 2015",
    "SELECT name FROM singer WHERE country = 'France' AND age > 30 AND is_male = 'T'",
    "SELECT name FROM stadium WHERE capacity > 5000 AND location != 'Raith Rovers'",
    "SELECT * FROM singer WHERE is_male = 'F' AND country = 'France' OR age < 20",
    "SELECT max(highest), min(lowest) FROM stadium WHERE location LIKE 'S%' OR location LIKE 'A%'",
    "SELECT name FROM singer WHERE song_name LIKE '%Love%' AND country LIKE 'U%'",
    "SELECT concert_name, year FROM concert WHERE theme = 'Free choice' OR theme = 'Party All Night' OR year = 2016",
    "SELECT max(age) FROM singer WHERE country != 'France' AND is_male = 'T'",
    "SELECT name, age FROM singer WHERE age >= 30 AND age <= 40 ORDER BY age DESC LIMIT 3",
    "SELECT min(song_release_year), max(song_release_year) FROM singer WHERE country = 'France' AND age > 20 AND age < 60",
    "SELECT count(*) FROM concert WHERE theme LIKE '%Happy%' OR concert_name LIKE '%Auditions%'",
    "SELECT name, capacity FROM stadium WHERE average > 1000 OR highest > 5000 ORDER BY capacity",
    "SELECT concert_name FROM concert WHERE year BETWEEN 2010 AND 2015 ORDER BY year",
    # GROUP BY / HAVING
    "SELECT country, count(*) FROM singer GROUP BY country",
    "SELECT count(*), country FROM singer WHERE age > 25 GROUP BY country",
    "SELECT country FROM singer GROUP BY country HAVING count(*) > 2",
    "SELECT country FROM singer GROUP BY country HAVING count(*) > 2 AND avg(age) < 40",
    "SELECT country FROM singer GROUP BY country HAVING count(*) > 1 OR min(age) < 20",
    "SELECT country, avg(age) FROM singer GROUP BY country HAVING avg(age) > 30 ORDER BY avg(age) DESC",
    "SELECT country, min(age), max(age) FROM singer GROUP BY country, is_male",
    "SELECT year FROM concert GROUP BY year ORDER BY count(*) DESC LIMIT 1",
    "SELECT country FROM singer WHERE age > 20 GROUP BY country HAVING count(*) > 1 ORDER BY country",
    "SELECT stadium_id, count(*) FROM concert GROUP BY stadium_id HAVING count(*) >= 2 ORDER BY count(*) DESC LIMIT 3",
    # joins
    f"SELECT T2.name, count(*) FROM {J_CS} GROUP BY T1.stadium_id",
    f"SELECT T2.name, T2.capacity FROM {J_CS} WHERE T1.year >= 2014 GROUP BY T2.stadium_id ORDER BY count(*) DESC LIMIT 1",
    f"SELECT T2.concert_name, T2.theme, count(*) FROM {J_SIC_C} GROUP BY T2.concert_id",
    f"SELECT T2.name, count(*) FROM {J_SIC_S} GROUP BY T2.singer_id",
    f"SELECT avg(T2.age) FROM {J_SIC_S} WHERE T1.concert_id = 1",
    f"SELECT count(*) FROM {J_SIC_C} WHERE T2.year = 2014 OR T2.year = 2015",
    "SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id "
    "JOIN concert AS T3 ON T1.concert_id = T3.concert_id WHERE T3.year = 2014",
    "SELECT T1.name, T1.country FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
    "JOIN concert AS T3 ON T2.concert_id = T3.concert_id JOIN stadium AS T4 ON T3.stadium_id = T4.stadium_id "
    "WHERE T4.capacity > 10000",
    "SELECT T3.concert_name, count(*) FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id "
    "JOIN concert AS T3 ON T1.concert_id = T3.concert_id WHERE T2.age > 30 GROUP BY T3.concert_id "
    "ORDER BY count(*) DESC LIMIT 1",
    "SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id GROUP BY T2.stadium_id "
    "HAVING count(*) > 1",
    "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
    "GROUP BY T1.singer_id HAVING count(*) > 1 ORDER BY T1.name LIMIT 5",
    "SELECT DISTINCT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id "
    "WHERE T2.theme LIKE '%Party%' ORDER BY T1.name",
    "SELECT T1.name, T1.capacity FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id "
    "AND T2.year > 2013",
    # nested queries
    "SELECT song_name FROM singer WHERE age > (SELECT avg(age) FROM singer)",
    "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)",
    "SELECT count(*) FROM concert WHERE stadium_id = (SELECT stadium_id FROM stadium ORDER BY capacity DESC LIMIT 1)",
    "SELECT count(*) FROM stadium WHERE capacity > (SELECT avg(capacity) FROM stadium)",
    "SELECT name FROM singer WHERE age = (SELECT max(age) FROM singer) OR age = (SELECT min(age) FROM singer)",
    "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM singer_in_concert) AND age > 25",
    "SELECT T1.concert_name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id "
    "WHERE T2.capacity = (SELECT max(capacity) FROM stadium)",
    "SELECT count(*) FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)",
    "SELECT count(*) FROM (SELECT country FROM singer GROUP BY country)",
    "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer WHERE country = 'USA') ORDER BY age LIMIT 2",
    "SELECT song_name FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert) "
    "AND country NOT LIKE 'F%'",
    "SELECT avg(capacity) FROM stadium WHERE stadium_id IN (SELECT stadium_id FROM concert GROUP BY stadium_id "
    "HAVING count(*) > 1)",
    # set operations
    "SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age < 30",
    f"SELECT name FROM stadium EXCEPT SELECT T2.name FROM {J_CS} WHERE T1.year = 2014",
    f"SELECT T2.name, T2.location FROM {J_CS} WHERE T1.year = 2014 INTERSECT "
    f"SELECT T2.name, T2.location FROM {J_CS} WHERE T1.year = 2015",
    "SELECT name FROM singer UNION SELECT concert_name FROM concert",
    f"SELECT name FROM singer WHERE age > 30 EXCEPT SELECT T2.name FROM {J_SIC_S}",
    "SELECT name FROM singer WHERE country = 'USA' UNION SELECT name FROM singer WHERE age > 50",
    "SELECT name FROM stadium WHERE stadium_id IN (SELECT stadium_id FROM concert WHERE year = 2014) "
    "INTERSECT SELECT name FROM stadium WHERE capacity > 4000",
    "SELECT location FROM stadium WHERE capacity > 10000 UNION SELECT location FROM stadium WHERE average < 500 "
    "EXCEPT SELECT location FROM stadium WHERE name = 'Glebe Park'",
]


def official_sources(checkout: Path) -> Path | None:
    """A folder holding the official files: the checkout itself, or a temporary folder they
    are written to from a bare clone's HEAD."""
    if all((checkout / name).is_file() for name in OFFICIAL_FILES):
        return checkout
    if not checkout.is_dir():
        return None
    folder = Path(tempfile.mkdtemp(prefix="spider-official-"))
    for name in OFFICIAL_FILES:
        shown = subprocess.run(["git", f"--git-dir={checkout}", "show", f"HEAD:{name}"], capture_output=True)
        if shown.returncode != 0:
            return None
        (folder / name).write_bytes(shown.stdout)
    return folder


def official_labeller(folder: Path):
    """`query -> label or None` from the official code (None: its parser cannot read it)."""
    import nltk
    from nltk.tokenize import NLTKWordTokenizer

    sys.path.insert(0, str(folder))
    process_sql = importlib.import_module("process_sql")
    evaluation = importlib.import_module("evaluation")
    try:
        nltk.word_tokenize("select 1")
    except LookupError:  # no sentence model downloaded: the word tokenizer alone
        process_sql.word_tokenize = NLTKWordTokenizer().tokenize
    schema = process_sql.Schema(SCHEMA)

    def label(query: str) -> str | None:
        try:
            return evaluation.Evaluator().eval_hardness(process_sql.get_sql(schema, query))
        except Exception:  # noqa: BLE001 - the official parser asserts on what it cannot read
            return None

    return label


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout or bare clone of taoyds/spider")
    parser.add_argument("--show-disagreements", action="store_true")
    args = parser.parse_args()
    try:
        import nltk  # noqa: F401
    except ImportError:
        print("skipped: nltk is not installed (the official parser needs it): pip install nltk")
        return 0
    folder = official_sources(args.checkout)
    if folder is None:
        print(f"skipped: no Spider evaluation.py/process_sql.py in {args.checkout}")
        return 0
    label = official_labeller(folder)

    confusion: Counter = Counter()
    unread = []
    disagreements = []
    for query in QUERIES:
        official, ours = label(query), spider_hardness(query)
        if official is None:
            unread.append(query)
            continue
        confusion[(official, ours)] += 1
        if official != ours:
            disagreements.append((query, official, ours))
    scored = sum(confusion.values())
    agreed = sum(n for (official, ours), n in confusion.items() if official == ours)
    print(f"queries: {len(QUERIES)}; read by the official parser: {scored}; unreadable there: {len(unread)}")
    print(f"agreement: {agreed}/{scored} = {agreed / scored:.1%} (target {TARGET_AGREEMENT:.0%})")
    print("official \\ ours " + " ".join(f"{level:>6}" for level in (*HARDNESS_LEVELS, "None")))
    for official in HARDNESS_LEVELS:
        row = " ".join(f"{confusion[(official, ours)]:>6}" for ours in (*HARDNESS_LEVELS, None))
        print(f"{official:>15} {row}")
    if args.show_disagreements:
        for query, official, ours in disagreements:
            counts = hardness_counts(parse_any(query, "sqlite")[0])
            print(f"- official {official}, ours {ours} {counts}: {query}")
        for query in unread:
            print(f"- unreadable by the official parser: {query}")
    return 0 if agreed / scored >= TARGET_AGREEMENT else 1


if __name__ == "__main__":
    sys.exit(main())
