"""Versioned, idempotent schema migrations: ``sql/migrations/<target>/NNNN_what.sql``.

Each file runs once, in its own transaction, under an advisory lock so two processes never race;
what ran is recorded in ``public.onramp_schema_migrations`` of the target database with a checksum,
and a file edited after it ran is refused (add a new file instead).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from onramp import db
from onramp.settings import PROJECT_ROOT, Settings

MIGRATIONS_DIR = PROJECT_ROOT / "sql" / "migrations"
LOCK_KEY = 0x6F6E72616D70  # "onramp"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration cannot be applied; the message names the file and the fix."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(target: str, root: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations of ``target`` (a folder under sql/migrations) in version order."""
    found = []
    for path in sorted((root / target).glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: name migrations NNNN_what.sql (four digits, lowercase words)")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"two migrations in {root / target} share a version number: {versions}")
    return found


def migrate(url: str, target: str, root: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the pending migrations of ``target`` to the database at ``url``; returns those applied."""
    pending = discover(target, root)
    applied_now = []
    with db.connect(url, "migrations", autocommit=True, statement_timeout_s=0) as conn:
        conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(db.sql("admin", "migrations_ledger"))
            done = dict(conn.execute(db.sql("admin", "migrations_applied"), {"target": target}).fetchall())
            for migration in pending:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.path} changed after it was applied to this database; "
                            "never edit an applied migration, add a new NNNN_*.sql file instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql)
                        conn.execute(db.sql("admin", "migration_record"), {
                            "target": target, "version": migration.version, "name": migration.name,
                            "checksum": migration.checksum})
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.path} failed and was rolled back: {exc}".strip()) from exc
                applied_now.append(migration)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


def migrate_all(settings: Settings) -> dict[str, list[Migration]]:
    """Bring the warehouse and the simulated app database to the newest schema."""
    return {
        "warehouse": migrate(settings.warehouse_url, "warehouse"),
        "app": migrate(settings.app_db_url, "app"),
    }
