"""``onramp marts …``: build the warehouse models (dbt) outside Airflow and see what became of each node.

A failed node prints the node table, then one message naming the failed nodes and the command that re-runs
them, and exits 1; never a traceback.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from onramp.cli_support import console, friendly

app = typer.Typer(help="Warehouse models: staging, marts and features (the dbt project in sql/dbt).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

_COLOURS = {"success": "green", "pass": "green", "warn": "yellow", "skipped": "yellow", "error": "red", "fail": "red"}


def _as_of(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; write it YYYY-MM-DD, e.g. 2026-11-30") from None


def _print_nodes(nodes) -> None:
    table = Table("node", "type", "status", "seconds", "result")
    for node in nodes:
        colour = _COLOURS.get(node.status, "white")
        table.add_row(node.name, node.resource_type, f"[{colour}]{node.status}[/]", f"{node.seconds:.2f}", node.message)
    console.print(table)


@app.command()
@friendly
def build(
    as_of: Annotated[str | None, typer.Option("--as-of", help="as-of date of user_features, YYYY-MM-DD "
                                                              "(default: yesterday in UTC)")] = None,
    select: Annotated[list[str] | None, typer.Option("--select", "-s", help="dbt node selection (repeatable), "
                                                                            "e.g. fct_onboarding_events+")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="dbt nodes to leave out (repeatable), "
                                                                        "e.g. tag:audit_full_scan")] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="rebuild incremental models from scratch "
                                                                      "(user_features never: its dates stay)")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="stream dbt's own log lines as it runs")] = False,
) -> None:
    """Run `dbt build` (models, then their tests) on the warehouse and print every node's status."""
    from onramp.marts.dbt import DbtFailed, run_dbt

    args = ["build"]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    if full_refresh:
        args.append("--full-refresh")
    as_of_date = _as_of(as_of)
    try:
        run = run_dbt(args, vars={"as_of_date": as_of_date} if as_of_date else None, quiet=not verbose)
    except DbtFailed as exc:
        if exc.nodes:
            _print_nodes(exc.nodes)
        raise
    _print_nodes(run.nodes)
    console.print(f"{len(run.nodes)} nodes in {run.elapsed_s:.1f} s; artifacts in {run.target_path}")
