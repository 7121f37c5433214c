"""The PostgreSQL fixture gives a real server, isolated databases and password-protected access."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


def test_a_table_round_trips_through_sqlalchemy(postgres_database: str) -> None:
    engine = sa.create_engine(postgres_database)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE subject (pseudonym text PRIMARY KEY, age int)"))
            conn.execute(sa.text("INSERT INTO subject VALUES ('EUCAIM-1', 54), ('EUCAIM-2', 61)"))
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT pseudonym, age FROM subject ORDER BY pseudonym")).all()
            version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("EUCAIM-1", 54), ("EUCAIM-2", 61)]
    assert int(version) >= 150000


def test_two_new_databases_do_not_see_each_other(postgres: PostgresServer) -> None:
    first, second = postgres.new_database(), postgres.new_database()
    assert first != second
    try:
        one = sa.create_engine(first)
        two = sa.create_engine(second)
        with one.begin() as conn:
            conn.execute(sa.text("CREATE TABLE only_here (x int)"))
        with two.connect() as conn:
            exists = conn.execute(sa.text("SELECT to_regclass('only_here') IS NOT NULL")).scalar_one()
        assert exists is False
        one.dispose()
        two.dispose()
    finally:
        postgres.drop_database(first)
        postgres.drop_database(second)


def test_dropping_a_database_with_open_connections_works(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    name = url.rsplit("/", 1)[1]
    forgotten = psycopg.connect(postgres.conninfo(name))  # a connection a test forgot to close
    try:
        postgres.drop_database(url)
        with pytest.raises(psycopg.OperationalError):
            forgotten.execute("SELECT 1")
    finally:
        forgotten.close()
    with psycopg.connect(postgres.conninfo()) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()]
    assert name not in names


def test_a_wrong_password_is_refused(postgres: PostgresServer) -> None:
    bad = postgres.conninfo().replace(postgres.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


def test_the_server_is_tuned_for_throwaway_use(postgres: PostgresServer) -> None:
    with psycopg.connect(postgres.conninfo()) as conn:
        fsync = conn.execute("SHOW fsync").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
    assert fsync == ("off",)
    assert listen == ("127.0.0.1",)
    assert str(postgres.data_dir).startswith(str(postgres.socket_dir.parent))
