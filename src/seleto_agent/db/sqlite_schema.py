"""Compares a live SQLite database with the schema `tables.py` declares, and says how to close
each gap that SQLite can close in place.

SQLite cannot run the Postgres migration files, so its schema comes from the declaration. A
database made at an older commit lacks what was declared since; missing tables, addable columns
and indexes are created from the declaration itself (SQLAlchemy's own DDL), so this keeps working
as tables and indexes are added. What SQLite cannot ALTER in (a NOT NULL column without a
default, a changed type, nullability or primary key, a new unique constraint or foreign key) has
no fix: `migrate` refuses rather than rebuilding tables that hold someone's data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.compiler import DDLCompiler

from seleto_agent.db.tables import metadata as declared_metadata


@dataclass(frozen=True, slots=True)
class Fix:
    done: str  # what applying it did, for `migrate`'s output
    apply: Callable[[Connection], None]


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the live schema differs from the declared one; `fix` is None when SQLite cannot
    close the gap without rebuilding the table."""

    what: str
    fix: Fix | None


class SchemaRefused(Exception):
    """The live schema has differences SQLite cannot fix in place; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def bring_up_to_date(conn: Connection, declared: MetaData = declared_metadata) -> list[str]:
    """Apply every fix, then check again; returns what was done. Refuses before changing
    anything when some difference has no fix. Run it in a transaction: a fix SQLite rejects
    half-way (rows that break a new unique index) leaves the earlier ones to roll back."""
    differences = schema_differences(conn, declared)
    refused = [d.what for d in differences if d.fix is None]
    if refused:
        raise SchemaRefused(refused)
    done: list[str] = []
    for difference in differences:
        assert difference.fix is not None
        try:
            difference.fix.apply(conn)
        except DBAPIError as exc:
            raise SchemaRefused(
                [f"{difference.what}, and SQLite refused the fix: {exc.orig}"]
            ) from exc
        done.append(difference.fix.done)
    remaining = [d.what for d in schema_differences(conn, declared)]
    if remaining:
        raise SchemaRefused(remaining)
    return done


def schema_differences(
    conn: Connection, declared: MetaData = declared_metadata
) -> list[Difference]:
    """PRAGMA-based reflection of each declared table, in dependency order (parents first, so
    the fixes can run in the order given). Live tables and nullable columns that the code does
    not declare are ignored: the code never reads or writes them."""
    inspector = inspect(conn)
    live_tables = set(inspector.get_table_names())
    found: list[Difference] = []
    for table in declared.sorted_tables:
        if table.name not in live_tables:
            found.append(Difference(f"table {table.name} is missing", _create_table(table)))
            continue
        found += _column_differences(inspector, table, conn)
        found += _key_differences(inspector, table, conn)
        found += _index_differences(inspector, table, conn)
    return found


def _column_differences(inspector: Inspector, table: Table, conn: Connection) -> list[Difference]:
    live = {c["name"]: c for c in inspector.get_columns(table.name)}
    found: list[Difference] = []
    for column in table.columns:
        name = f"{table.name}.{column.name}"
        reflected = live.get(column.name)
        if reflected is None:
            found.append(_missing_column(column))
            continue
        declared_type = column.type.compile(dialect=conn.dialect)
        live_type = reflected["type"].compile(dialect=conn.dialect)
        if declared_type != live_type:
            found.append(
                Difference(f"column {name} is {live_type}, declared {declared_type}", None)
            )
        # SQLite lets a hand-written INTEGER PRIMARY KEY omit NOT NULL; it is the rowid anyway.
        if reflected["nullable"] != column.nullable and not column.primary_key:
            declared = "nullable" if column.nullable else "NOT NULL"
            found.append(Difference(f"column {name} is not {declared} as declared", None))
    for extra, reflected in live.items():
        if extra not in table.columns and not reflected["nullable"] and not reflected["default"]:
            found.append(
                Difference(
                    f"column {table.name}.{extra} is not declared and is NOT NULL without a "
                    "default, so the code's inserts would fail",
                    None,
                )
            )
    return found


def _missing_column(column: Column[Any]) -> Difference:
    name = f"{column.table.name}.{column.name}"
    # SQLite's ALTER TABLE ADD COLUMN takes no PRIMARY KEY or UNIQUE (the latter shows up as a
    # missing unique constraint), and NOT NULL only with a default to fill the existing rows.
    if column.primary_key:
        return Difference(f"primary key column {name} is missing", None)
    if not column.nullable and column.server_default is None:
        return Difference(
            f"column {name} is missing and is NOT NULL without a default, so SQLite cannot add "
            "it to the existing rows",
            None,
        )
    if any(
        fk.constraint is not None and len(fk.constraint.elements) > 1 for fk in column.foreign_keys
    ):
        return Difference(f"column {name} is missing and is part of a composite foreign key", None)

    def add(conn: Connection) -> None:
        compiled = CreateColumn(column).compile(dialect=conn.dialect)
        assert isinstance(compiled, DDLCompiler)
        spec = str(compiled)
        preparer = compiled.preparer
        for fk in column.foreign_keys:
            assert fk.constraint is not None
            # CREATE TABLE renders foreign keys as table constraints; ADD COLUMN needs them inline.
            remote = preparer.format_table(fk.column.table, use_schema=False)
            cascades = compiled.define_constraint_cascades(fk.constraint)
            spec += f" REFERENCES {remote} ({preparer.quote(fk.column.name)}){cascades}"
        table = preparer.format_table(column.table, use_schema=False)
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {spec}")

    return Difference(f"column {name} is missing", Fix(f"added column {name}", add))


def _create_table(table: Table) -> Fix:
    def create(conn: Connection) -> None:
        table.create(conn, checkfirst=True)

    return Fix(f"created table {table.name}", create)


def _key_differences(inspector: Inspector, table: Table, conn: Connection) -> list[Difference]:
    found: list[Difference] = []
    live_pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
    declared_pk = [c.name for c in table.primary_key.columns]
    if set(live_pk) != set(declared_pk):
        found.append(
            Difference(
                f"primary key of {table.name} is ({', '.join(live_pk)}), "
                f"declared ({', '.join(declared_pk)})",
                None,
            )
        )
    live_unique = {
        frozenset(u["column_names"]) for u in inspector.get_unique_constraints(table.name)
    }
    live_unique |= {
        frozenset(str(c) for c in i["column_names"])
        for i in inspector.get_indexes(table.name)
        if i["unique"] and "sqlite_where" not in i["dialect_options"]
    }
    declared_unique = {
        tuple(c.name for c in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    }
    for unique in sorted(declared_unique):
        if frozenset(unique) not in live_unique:
            found.append(
                Difference(
                    f"unique constraint on {table.name} ({', '.join(unique)}) is missing", None
                )
            )
    live_fks = _live_foreign_keys(conn, table.name)
    live_columns = {c["name"] for c in inspector.get_columns(table.name)}
    for constraint in sorted(table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)):
        # A missing column is its own difference, and adding it brings its foreign key.
        if not set(constraint.column_keys) <= live_columns:
            continue
        if _fk_key(constraint) not in live_fks:
            found.append(
                Difference(
                    f"foreign key {table.name} ({', '.join(constraint.column_keys)}) is missing",
                    None,
                )
            )
    return found


_ForeignKey = tuple[tuple[str, ...], str, tuple[str, ...], str]


def _live_foreign_keys(conn: Connection, table: str) -> set[_ForeignKey]:
    # The PRAGMA, not the inspector: SQLAlchemy reads ON DELETE by parsing the CREATE TABLE text,
    # which misses it on a column added with an inline REFERENCES.
    quoted = conn.dialect.identifier_preparer.quote_identifier(table)
    rows = conn.exec_driver_sql(f"PRAGMA foreign_key_list({quoted})").all()
    grouped: dict[int, list[Any]] = {}
    for row in sorted(rows, key=lambda r: (r[0], r[1])):
        grouped.setdefault(row[0], []).append(row)
    return {
        (
            tuple(r[3] for r in parts),
            parts[0][2],
            tuple(r[4] for r in parts),
            "" if parts[0][6] == "NO ACTION" else parts[0][6].upper(),
        )
        for parts in grouped.values()
    }


def _fk_key(constraint: ForeignKeyConstraint) -> _ForeignKey:
    return (
        tuple(fk.parent.name for fk in constraint.elements),
        constraint.referred_table.name,
        tuple(fk.column.name for fk in constraint.elements),
        (constraint.ondelete or "").upper(),
    )


def _index_differences(inspector: Inspector, table: Table, conn: Connection) -> list[Difference]:
    live = {i["name"]: i for i in inspector.get_indexes(table.name)}
    found: list[Difference] = []
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        reflected = live.get(str(index.name))
        if reflected is None:
            found.append(Difference(f"index {index.name} is missing", _create_index(index)))
            continue
        declared_shape = (
            [c.name for c in index.columns],
            index.unique,
            _declared_where(index, conn),
        )
        live_where = reflected["dialect_options"].get("sqlite_where")
        live_shape = (
            reflected["column_names"],
            bool(reflected["unique"]),
            None if live_where is None else _normalise(str(live_where)),
        )
        if declared_shape != live_shape:
            # An index holds no data of its own: rebuilding it from the declaration is safe.
            found.append(Difference(f"index {index.name} differs", _recreate_index(index)))
    return found


def _declared_where(index: Index, conn: Connection) -> str | None:
    where = index.dialect_options["sqlite"]["where"]
    if where is None:
        return None
    # Compiled the way SQLite's CREATE INDEX compiles it, which is the text SQLite keeps.
    compiled = where.compile(
        dialect=conn.dialect, compile_kwargs={"include_table": False, "literal_binds": True}
    )
    return _normalise(str(compiled))


def _normalise(predicate: str) -> str:
    return re.sub(r"[\s\"`\[\]]", "", predicate).lower()


def _create_index(index: Index) -> Fix:
    def create(conn: Connection) -> None:
        index.create(conn, checkfirst=True)

    return Fix(f"created index {index.name}", create)


def _recreate_index(index: Index) -> Fix:
    def recreate(conn: Connection) -> None:
        index.drop(conn, checkfirst=True)
        index.create(conn)

    return Fix(f"rebuilt index {index.name}", recreate)
