"""Publish the gated dbt candidates: ``marts_build.x`` -> ``marts.x`` (and features), all in one transaction.

Analysts and the scoring DAG read ``marts`` and ``features``; dbt never writes there. After the gate passed
(:mod:`onramp.marts.gate`), one transaction brings every published table up to its candidate, so readers
see either the previous build of every model or the new one of every model, never a mix:

- a rebuilt model (dbt ``table``) replaces the published rows whole;
- an incremental model merges only the candidate rows built since the last publish (``built_at``), on its
  grain, so publishing ``fct_onboarding_events`` costs the new events, not the table.

The published table is created on first publish with the candidate's columns and a primary key on the
model's grain; a column the model gained is added; a column whose type changed stops the publish with
what to do (a change analysts must hear about).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.sql import SQL, Identifier

from onramp import db
from onramp.marts.manifest import PublishedModel, published_models

log = logging.getLogger(__name__)
LOCK_KEY = 0x6F6E72616D70  # "onramp": one publisher at a time (a second waits, then finds nothing new)


class PublishError(RuntimeError):
    """A candidate cannot be published as is; the message names the model and what to do."""


@dataclass
class Publication:
    model: str
    mode: str
    rows_published: int
    rows_total: int
    built_through: datetime | None


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    qualified = Identifier(schema, table).as_string()
    return [(r[0], r[1]) for r in conn.execute(db.sql("marts", "published_columns"), {"table": qualified})]


def _ensure_target(conn: psycopg.Connection, model: PublishedModel) -> list[str]:
    """Create or align the published table with the candidate; return the columns to copy."""
    candidate = _columns(conn, model.build_schema, model.name)
    if not candidate:
        raise PublishError(f"{model.build_schema}.{model.name} does not exist: the dbt build of {model.name} has not "
                           "run (or failed); run the warehouse_marts DAG (or `onramp marts build`) first")
    if "built_at" not in dict(candidate):
        raise PublishError(f"{model.build_schema}.{model.name} has no built_at column; every published model needs one")
    target = Identifier(model.schema, model.name)
    published = dict(_columns(conn, model.schema, model.name))
    if not published:
        conn.execute(SQL("create table {} (like {} including defaults)").format(
            target, Identifier(model.build_schema, model.name)))
        conn.execute(SQL("alter table {} add primary key ({})").format(
            target, SQL(", ").join(map(Identifier, model.key))))
        return [name for name, _ in candidate]
    for name, type_ in candidate:
        if name not in published:
            conn.execute(SQL("alter table {} add column {} " + type_).format(target, Identifier(name)))
        elif published[name] != type_:
            raise PublishError(
                f"{model.schema}.{model.name}.{name} is {published[name]} but the new build makes it {type_}: "
                f"analysts' queries may depend on the type. Migrate it on purpose (alter table {model.schema}."
                f"{model.name} alter column {name} type {type_}, or drop the published table to recreate it), "
                "then re-run publish_marts")
    return [name for name, _ in candidate]


def _publish_one(conn: psycopg.Connection, model: PublishedModel, publication_id: str) -> Publication:
    columns = _ensure_target(conn, model)
    cols = SQL(", ").join(map(Identifier, columns))
    target, candidate = Identifier(model.schema, model.name), Identifier(model.build_schema, model.name)
    if model.incremental:
        through = conn.execute(SQL("select max(built_at) from {}").format(target)).fetchone()[0]
        assignments = SQL(", ").join(SQL("{0} = excluded.{0}").format(Identifier(c)) for c in columns
                                     if c not in model.key)
        statement = SQL(db.sql("marts", "publish_merge")).format(
            target=target, candidate=candidate, columns=cols, key=SQL(", ").join(map(Identifier, model.key)),
            assignments=assignments)
        rows = conn.execute(statement, {"published_through": through or datetime.min.replace(year=1)}).rowcount
        mode = "merge"
    else:
        cursor = conn.execute(SQL(db.sql("marts", "publish_replace")).format(target=target, candidate=candidate,
                                                                            columns=cols))
        rows = cursor.rowcount
        mode = "replace"
    total, built_through = conn.execute(SQL("select count(*), max(built_at) from {}").format(target)).fetchone()
    return Publication(f"{model.schema}.{model.name}", mode, max(rows, 0), total, built_through)


def publish(warehouse_url: str, publication_id: str, models: list[PublishedModel] | None = None) -> list[Publication]:
    """Bring every published table up to its gated candidate in one transaction; record each in ops.mart_publications."""
    models = published_models() if models is None else models
    done: list[Publication] = []
    with db.connect(warehouse_url, "marts-publish") as conn, conn.transaction():
        conn.execute(db.sql("marts", "publish_lock"), {"key": LOCK_KEY})
        for model in models:
            publication = _publish_one(conn, model, publication_id)
            conn.execute(db.sql("marts", "publication_record"), {
                "publication_id": publication_id, "model": publication.model, "mode": publication.mode,
                "rows_published": publication.rows_published, "rows_total": publication.rows_total,
                "built_through": publication.built_through})
            done.append(publication)
            log.info("published %s (%s): %d rows, %d in total", publication.model, publication.mode,
                     publication.rows_published, publication.rows_total)
    return done
