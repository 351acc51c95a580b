"""The SQLite schema diff and its fixes, on declarations other engineers are adding: a column with
a foreign key and a default, and a partial unique index (`sqlite_where` + `postgresql_where`).
SQLite only: it is how SQLite, which cannot run the SQL files, is migrated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    false,
    insert,
    inspect,
    text,
)
from sqlalchemy.exc import IntegrityError

from seleto_agent.db.sqlite_schema import SchemaRefused, bring_up_to_date, schema_differences


def declared(*, where: str = "status = 'open'") -> MetaData:
    """Today's declaration of two small tables."""
    declared = MetaData()
    Table("owners", declared, Column("id", Integer, primary_key=True))
    Table(
        "claims",
        declared,
        Column("id", Integer, primary_key=True),
        Column("conversation_key", Text, nullable=False),
        Column("status", Text, nullable=False),
        Column("owner_id", Integer, ForeignKey("owners.id", ondelete="SET NULL")),
        Column("urgent", Boolean, nullable=False, server_default=false()),
        Index(
            "uq_claims_one_open",
            "conversation_key",
            unique=True,
            sqlite_where=text(where),
            postgresql_where=text(where),
        ),
    )
    return declared


def older() -> MetaData:
    """The same tables as an older commit declared them: no owner_id, urgent or index."""
    older = MetaData()
    Table("owners", older, Column("id", Integer, primary_key=True))
    Table(
        "claims",
        older,
        Column("id", Integer, primary_key=True),
        Column("conversation_key", Text, nullable=False),
        Column("status", Text, nullable=False),
    )
    return older


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        yield connection
    engine.dispose()


def test_a_database_built_from_the_declaration_has_no_differences(conn: Connection) -> None:
    declared().create_all(conn)
    assert schema_differences(conn, declared()) == []


def test_missing_columns_and_a_partial_unique_index_are_added(conn: Connection) -> None:
    older().create_all(conn)
    conn.execute(text("insert into claims (conversation_key, status) values ('a', 'open')"))
    conn.execute(text("insert into claims (conversation_key, status) values ('a', 'closed')"))
    assert [d.what for d in schema_differences(conn, declared())] == [
        "column claims.owner_id is missing",
        "column claims.urgent is missing",
        "index uq_claims_one_open is missing",
    ]

    done = bring_up_to_date(conn, declared())

    assert done == [
        "added column claims.owner_id",
        "added column claims.urgent",
        "created index uq_claims_one_open",
    ]
    assert schema_differences(conn, declared()) == []
    # Existing rows got the declared default, the foreign key is real, the index is partial.
    assert conn.execute(text("select urgent from claims")).scalars().all() == [False, False]
    foreign_keys = conn.exec_driver_sql("pragma foreign_key_list(claims)").all()
    assert [(fk[2], fk[3], fk[4], fk[6]) for fk in foreign_keys] == [
        ("owners", "owner_id", "id", "SET NULL")
    ]
    claims = declared().tables["claims"]
    conn.execute(insert(claims).values(conversation_key="a", status="closed"))
    with pytest.raises(IntegrityError):
        conn.execute(insert(claims).values(conversation_key="a", status="open"))


def test_an_index_whose_predicate_changed_is_rebuilt(conn: Connection) -> None:
    declared(where="status = 'open'").create_all(conn)
    newer = declared(where="status in ('open', 'pending')")
    assert [d.what for d in schema_differences(conn, newer)] == ["index uq_claims_one_open differs"]

    assert bring_up_to_date(conn, newer) == ["rebuilt index uq_claims_one_open"]
    assert schema_differences(conn, newer) == []


def test_rows_that_break_a_new_unique_index_are_a_refusal(conn: Connection) -> None:
    older().create_all(conn)
    for _ in range(2):
        conn.execute(text("insert into claims (conversation_key, status) values ('a', 'open')"))

    with pytest.raises(SchemaRefused) as refused:
        bring_up_to_date(conn, declared())

    assert refused.value.problems[0].startswith(
        "index uq_claims_one_open is missing, and SQLite refused the fix: UNIQUE constraint failed"
    )


def test_what_sqlite_cannot_alter_is_refused_before_anything_changes(conn: Connection) -> None:
    older().create_all(conn)
    newer = declared()
    claims = newer.tables["claims"]
    claims.append_column(Column("reason", Text, nullable=False))
    claims.append_constraint(UniqueConstraint("conversation_key", "status", name="uq_claims"))

    with pytest.raises(SchemaRefused) as refused:
        bring_up_to_date(conn, newer)

    assert refused.value.problems == [
        "column claims.reason is missing and is NOT NULL without a default, so SQLite cannot "
        "add it to the existing rows",
        "unique constraint on claims (conversation_key, status) is missing",
    ]
    assert {c["name"] for c in inspect(conn).get_columns("claims")} == {
        "id",
        "conversation_key",
        "status",
    }


def test_a_changed_type_or_nullability_is_reported_without_a_fix(conn: Connection) -> None:
    conn.exec_driver_sql("create table owners (id integer primary key)")
    conn.exec_driver_sql(
        "create table claims (id integer primary key, conversation_key integer not null, "
        "status text, owner_id integer references owners (id) on delete set null, "
        "urgent boolean not null default 0)"
    )
    conn.exec_driver_sql(
        "create unique index uq_claims_one_open on claims (conversation_key) where status = 'open'"
    )
    differences = schema_differences(conn, declared())
    assert [(d.what, d.fix) for d in differences] == [
        ("column claims.conversation_key is INTEGER, declared TEXT", None),
        ("column claims.status is not NOT NULL as declared", None),
    ]
