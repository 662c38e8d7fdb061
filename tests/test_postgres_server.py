"""The postgres_url fixture gives a real PostgreSQL server: it answers, commits are shared, and it takes 100 connections."""

from __future__ import annotations

import os
import uuid

import pytest

try:
    import psycopg
except ImportError:  # psycopg[binary] is a test dependency; without it these tests cannot say anything
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("PostgreSQL tests skipped: the psycopg module is not installed", allow_module_level=True)


def test_select_one(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=30) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_second_connection_sees_a_committed_row(postgres_url: str) -> None:
    table = f"fixture_probe_{uuid.uuid4().hex}"  # DATABASE_URL_TEST may point at a database others use
    with psycopg.connect(postgres_url, connect_timeout=30) as writer, psycopg.connect(postgres_url, connect_timeout=30) as reader:
        writer.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
        writer.execute(f"INSERT INTO {table} VALUES (1, 'committed')")
        assert reader.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)  # not committed yet
        reader.rollback()
        writer.commit()
        assert reader.execute(f"SELECT note FROM {table} WHERE id = 1").fetchone() == ("committed",)
        reader.rollback()
        writer.execute(f"DROP TABLE {table}")
        writer.commit()


def test_a_hundred_connections_at_once(postgres_url: str) -> None:
    conns = []
    try:
        for _ in range(100):
            conns.append(psycopg.connect(postgres_url, connect_timeout=30, autocommit=True))
        assert int(conns[0].execute("SHOW max_connections").fetchone()[0]) >= 200
        assert conns[-1].execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").fetchone()[0] >= 100
    finally:
        for conn in conns:
            conn.close()
