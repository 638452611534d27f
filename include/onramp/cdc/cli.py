"""``onramp cdc …``: see where each replicated table stands, run a cycle outside Airflow, resnapshot, drop a slot.

Errors a user can act on (bad config, missing slot, blocked table, failed gate) print one message
naming the table and the fix, and exit 1; never a traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from onramp.cli_support import console, err, friendly

app = typer.Typer(help="CDC: replicate declared application tables into the lake and the warehouse.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
def _config(path: Path | None):
    from onramp.cdc.config import load_config

    return load_config(path)


def _urls(config, table, source_url: str | None, warehouse_url: str | None) -> tuple[str, str]:
    from onramp.endpoints import url_for

    return (source_url or url_for(config.source(table.source).conn_id),
            warehouse_url or url_for(config.warehouse_conn_id))


def _human_bytes(value) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return str(value)


LakeDir = Annotated[Path | None, typer.Option("--lake-dir", help="lake root (default: ONRAMP_LAKE_DIR)")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="sources file (default: ONRAMP_CDC_CONFIG or config/cdc_sources.yaml)")]
SourceUrl = Annotated[str | None, typer.Option(help="source database URL (default: the source's connection)")]
WarehouseUrl = Annotated[str | None, typer.Option(help="warehouse URL (default: the onramp_warehouse connection)")]


@app.command()
@friendly
def status(config_path: ConfigOption = None, warehouse_url: WarehouseUrl = None) -> None:
    """Every declared table: mode, state, applied position, slot lag and why it is blocked, if it is."""
    from onramp.cdc.state import status_rows
    from onramp.endpoints import url_for

    config = _config(config_path)
    rows = {(r["source"], r["table_name"]): r for r in status_rows(warehouse_url or url_for(config.warehouse_conn_id))}
    table = Table("table", "staging", "mode", "status", "applied", "slot lag", "last run", "note")
    for t in config.tables:
        row = rows.get((t.source, t.qualified))
        if row is None:
            table.add_row(t.id, t.target, t.mode, "[yellow]not loaded yet[/]", "-", "-", "-", "")
            continue
        applied = row["applied_lsn"] or (str(row["applied_xid"]) if row["applied_xid"] is not None else "-")
        if row["status"] == "snapshotting":
            applied = f"snapshot {row['snapshot_next_chunk']}/{row['snapshot_chunks']} chunks"
        lag = _human_bytes(row["lag_bytes"])
        if row["lag_bytes"] is not None and row["limit_bytes"] and row["lag_bytes"] > row["limit_bytes"]:
            lag = f"[red]{lag} (over {_human_bytes(row['limit_bytes'])})[/]"
        colour = {"streaming": "green", "blocked": "red"}.get(row["status"], "yellow")
        note = row["blocked_reason"] or row["mode_reason"] or ""
        table.add_row(t.id, row["target"], row["mode"], f"[{colour}]{row['status']}[/]", applied, lag,
                      row["last_run_id"] or "-", note)
    console.print(table)


def _run(tables: list[str] | None, resnapshot: bool, source_url: str | None, warehouse_url: str | None,
         run_id: str | None, as_json: bool, config_path: Path | None, lake_dir: Path | None) -> None:
    from onramp.cdc.cycle import Context, run_table
    from onramp.cdc.errors import CdcError
    from onramp.quality import GateFailed
    from onramp.settings import get_settings

    config = _config(config_path)
    selected = [config.find(ref) for ref in tables] if tables else config.tables
    run_id = run_id or f"cli__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}"
    lake = lake_dir or get_settings().lake_path
    results, failures = [], []
    for table in selected:
        source, warehouse = _urls(config, table, source_url, warehouse_url)
        try:
            result = run_table(Context(config, table, source, warehouse, lake, run_id), resnapshot=resnapshot)
            results.append(result)
        except (CdcError, GateFailed) as exc:  # one table failing never stops the others
            failures.append({"table": table.id, "error": str(exc)})
            if not as_json:
                err.print(f"[bold red]{table.id} failed:[/] {exc}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps({"results": [r.to_dict() for r in results], "failures": failures}, default=str))
    else:
        out = Table("table", "snapshot rows", "changes", "slot lag", "asset")
        for r in results:
            out.add_row(r.table, f"{r.snapshot_rows:,}", f"{r.changes:,}", _human_bytes(r.slot_lag_bytes), r.asset_uri)
        console.print(out)
    if failures:
        raise typer.Exit(1)


@app.command()
@friendly
def run(
    table: Annotated[list[str] | None, typer.Option("--table", help="only this table (repeatable)")] = None,
    resnapshot: Annotated[bool, typer.Option(help="rebuild the tables from a new snapshot")] = False,
    source_url: SourceUrl = None,
    warehouse_url: WarehouseUrl = None,
    run_id: Annotated[str | None, typer.Option(help="run label (names the lake files)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
    config_path: ConfigOption = None,
    lake_dir: LakeDir = None,
) -> None:
    """Run one CDC cycle (extract → gate → apply) outside Airflow; other tables go on when one fails."""
    _run(table, resnapshot, source_url, warehouse_url, run_id, as_json, config_path, lake_dir)


@app.command("resnapshot")
@friendly
def resnapshot_cmd(
    table: Annotated[str, typer.Argument(help="source/schema.table, schema.table or staging name")],
    source_url: SourceUrl = None,
    warehouse_url: WarehouseUrl = None,
    config_path: ConfigOption = None,
    lake_dir: LakeDir = None,
) -> None:
    """Rebuild one table from a fresh snapshot (lost or invalidated slot, incompatible type change, backfill)."""
    _run([table], True, source_url, warehouse_url, None, False, config_path, lake_dir)


@app.command("drop-slot")
@friendly
def drop_slot_cmd(
    table: Annotated[str, typer.Argument(help="source/schema.table, schema.table or staging name")],
    source_url: SourceUrl = None,
    config_path: ConfigOption = None,
) -> None:
    """Drop a table's replication slot to free the source's WAL (the table then needs `resnapshot`)."""
    from onramp.cdc.cycle import drop_table_slot
    from onramp.endpoints import url_for

    config = _config(config_path)
    t = config.find(table)
    dropped = drop_table_slot(source_url or url_for(config.source(t.source).conn_id), t)
    console.print(f"dropped slot {t.slot_name}; run `onramp cdc resnapshot {t.id}` to load the table again"
                  if dropped else f"slot {t.slot_name} did not exist")


@app.command()
@friendly
def validate(config_path: ConfigOption = None) -> None:
    """Check the sources file (without connecting anywhere)."""
    config = _config(config_path)
    for source in config.sources:
        console.print(f"source [bold]{source.name}[/] (connection {source.conn_id}, mode {source.mode}, "
                      f"fallback {source.fallback}): {len(source.tables)} tables")
        for t in source.tables:
            console.print(f"  {t.qualified} → staging.{t.target}, raw.{t.raw_table}, slot {t.slot_name}")
    console.print(f"{config.path} is valid")


if __name__ == "__main__":
    app()
