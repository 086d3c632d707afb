"""How often each catalog statement reads the lake on Athena, and that it does not grow.

Trino inlines a CTE at every reference and Athena bills every read of the table, so a form that
is cheaper for DuckDB (a dictionary joined back, a CTE read twice) can make Athena dearer. The
budget is the catalog's count before issue 17's speed work: 78 reads in all. Every visit insight
builds `visits` in its own statement, so the visits SQL is held to a few reads itself.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from cafepipe.insights.athena_sql import athena_statement, lake_reads
from cafepipe.insights.queries import INSIGHTS, Insight, reads_visits

# The whole catalog's reads before the speed forms of issue 17; the visits SQL's own reads.
CATALOG_READS = 78
VISITS_READS = 5
BY_ID = pytest.mark.parametrize("insight", INSIGHTS, ids=[i.id for i in INSIGHTS])
VISIT_INSIGHTS = [insight for insight in INSIGHTS if reads_visits(insight.sql)]


def _reads(
    insight: Insight,
    since: datetime | None = None,
    until: datetime | None = None,
    where_sql: str | None = None,
    zone: str = "UTC",
) -> int:
    statement = athena_statement(
        insight, "cafepipe_cafe", "access_log", since, until, where_sql, zone
    )
    return lake_reads(statement)


def test_the_catalog_reads_the_lake_no_more_than_before() -> None:
    reads = {insight.id: _reads(insight) for insight in INSIGHTS}
    assert sum(reads.values()) <= CATALOG_READS, reads


@pytest.mark.parametrize("insight", VISIT_INSIGHTS, ids=[i.id for i in VISIT_INSIGHTS])
def test_a_visit_statement_reads_the_lake_a_few_times(insight: Insight) -> None:
    # `logs`, `agents` and `lake_lines` are read only through `visits`; it is read once.
    assert _reads(insight) <= VISITS_READS


def test_the_catalog_has_visit_statements() -> None:
    # Else the bound above would hold of nothing.
    assert len(VISIT_INSIGHTS) >= 5


@BY_ID
def test_a_period_a_zone_and_a_filter_read_no_more(insight: Insight) -> None:
    # Bounds prune partitions and the café's time is arithmetic: no read of their own.
    scoped = _reads(
        insight,
        since=datetime(2026, 11, 1),
        until=datetime(2026, 12, 1),
        zone="Europe/Lisbon",
        where_sql="status < 500",
    )
    assert scoped == _reads(insight)


def test_each_reference_to_a_cte_counts_its_reads_again() -> None:
    assert lake_reads('SELECT * FROM "db"."t"') == 1
    # Referenced twice (a self-join), each reference inlined: two reads.
    assert lake_reads("WITH a AS (SELECT * FROM t) SELECT * FROM a JOIN a AS b ON a.x = b.x") == 2
    # A CTE over a CTE over the table, the outer one read twice, the inner one inside twice.
    nested = """WITH a AS (SELECT * FROM t),
b AS (SELECT * FROM a UNION ALL SELECT * FROM a)
SELECT * FROM b WHERE x IN (SELECT x FROM b)"""
    assert lake_reads(nested) == 4
    # A CTE no one reads costs nothing; a subquery in a condition is a read.
    assert lake_reads("WITH a AS (SELECT * FROM t) SELECT 1") == 0
    assert lake_reads("SELECT * FROM t WHERE x IN (SELECT x FROM u)") == 2


def test_names_are_resolved_as_trino_resolves_them() -> None:
    # A qualified name is the table, never the CTE of that name.
    assert lake_reads('WITH t AS (SELECT * FROM u JOIN v ON u.x = v.x) SELECT * FROM "db"."t"') == 1
    # A CTE is seen by the CTEs after it, not by those before: `a` in `b` is the table `a`.
    assert lake_reads("WITH b AS (SELECT * FROM a), a AS (SELECT * FROM t, u) SELECT * FROM b") == 1
    # A CTE of a subquery hides the outer one of the same name inside that subquery only.
    shadowed = """WITH a AS (SELECT * FROM t, u)
SELECT * FROM a, (WITH a AS (SELECT * FROM v) SELECT * FROM a) AS s"""
    assert lake_reads(shadowed) == 3
