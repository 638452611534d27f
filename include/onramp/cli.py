"""The ``onramp`` command: operate CDC, the collector, the event stream and the warehouse models, migrate, show
the settings; on a laptop also services, the local Airflow, the simulator and the demo (:mod:`onramp.local.cli`)."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from onramp.cdc.cli import app as cdc_app
from onramp.cli_support import console, err, friendly
from onramp.collector.cli import app as collector_app
from onramp.local.cli import register as register_local
from onramp.marts.cli import app as marts_app
from onramp.settings import SettingsError, documented_settings, get_settings, redact
from onramp.stream.cli import app as stream_app

app = typer.Typer(help="Onramp: open data platform for personalized customer onboarding.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.add_typer(cdc_app, name="cdc")
app.add_typer(collector_app, name="collector")
app.add_typer(marts_app, name="marts")
app.add_typer(stream_app, name="stream")


@app.command()
@friendly
def config() -> None:
    """Show every ONRAMP_* setting, its current value and what it means."""
    settings = get_settings()
    table = Table("variable", "value", "meaning")
    for key, _default, doc in documented_settings():
        value = getattr(settings, key.removeprefix("ONRAMP_").lower())
        table.add_row(key, redact(str(value)), doc)
    console.print(table)


@app.command()
@friendly
def migrate() -> None:
    """Apply pending SQL migrations (sql/migrations/) to the warehouse and app databases."""
    from onramp import migrations
    from onramp.local import services

    settings = get_settings()
    services.ensure_databases(settings)
    for target, applied in migrations.migrate_all(settings).items():
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "up to date"
        console.print(f"{target}: {names}")


register_local(app, collector_app)


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
