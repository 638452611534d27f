"""The laptop commands of ``onramp``: embedded services, the local Airflow, the example page, the simulator,
the demo, and the collector in the background. :func:`register` adds them to the ``onramp`` app."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from onramp.cli_support import console, friendly
from onramp.settings import get_settings, redact

services_app = typer.Typer(help="PostgreSQL and Redis: use the configured ones or start embedded ones.", no_args_is_help=True)
airflow_app = typer.Typer(help="The local Airflow 3 runtime (api-server, scheduler, dag-processor, triggerer).",
                          no_args_is_help=True)
web_app = typer.Typer(help="The example onboarding page (examples/web/), instrumented with the browser SDKs.",
                      no_args_is_help=True)
app = typer.Typer()  # the commands below attach to the top-level app through register()
collector_app = typer.Typer()


@services_app.command("up")
@friendly
def services_up() -> None:
    """Find or start PostgreSQL and Redis, create the databases, apply migrations."""
    from onramp.local import services

    settings = get_settings()
    modes = services.up(settings)
    for server in services.pg_servers(settings):
        console.print(f"postgres ({server.role}) {redact(server.url)}: {modes[f'postgres ({server.role})']}; "
                      f"databases {', '.join(server.databases)} ready")
    console.print(f"redis {redact(settings.redis_url)}: {modes['redis']}")
    console.print("migrations applied")


@services_app.command("down")
@friendly
def services_down() -> None:
    """Stop the embedded servers this project started; shared servers are left running."""
    from onramp.local import services

    stopped = services.down(get_settings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "no embedded service was running")


@services_app.command("status")
@friendly
def services_status() -> None:
    """Say whether each service answers, and whether it is shared or embedded."""
    from onramp.local import services

    table = Table("service", "url", "state", "detail")
    rows = services.status(get_settings())
    for row in rows:
        style = "green" if row.state.startswith(("up", "present")) else "red"
        table.add_row(row.name, row.url, f"[{style}]{row.state}[/]", row.detail)
    console.print(table)
    if any(row.state in ("down", "missing") for row in rows):
        raise typer.Exit(1)


@app.command()
@friendly
def simulate(
    users: Annotated[int, typer.Option(min=1, help="users to create (batch mode)")] = None,  # type: ignore[assignment]
    seed: Annotated[int, typer.Option(help="same seed, same data")] = None,  # type: ignore[assignment]
    live: Annotated[bool, typer.Option("--live", help="keep producing changes and events")] = False,
    history: Annotated[bool, typer.Option(
        "--history", help="send the users' event history (before SIM_EPOCH) through the collector; the app "
                          "database must have been built with the same --users and --seed")] = False,
    events_per_user: Annotated[int, typer.Option(
        min=0, help="--history: events per user on average (default ONRAMP_SIM_HISTORY_EVENTS_PER_USER)")] = None,  # type: ignore[assignment]
    processes: Annotated[int, typer.Option(min=1, help="--history: sender processes (one SDK client each)")] = 1,
    rate: Annotated[float, typer.Option(min=0.1, help="events per second in --live mode")] = 20.0,
    duration: Annotated[float, typer.Option(min=0, help="seconds to run --live (0 = until Ctrl-C)")] = 0,
    max_events: Annotated[int, typer.Option(min=0, help="stop --live after this many events (0 = no limit)")] = 0,
    sink: Annotated[str, typer.Option(
        help="where --live/--history events go: collector:[URL] (default, via the Segment SDK), file:events.jsonl, "
             "stdout:")] = "",
) -> None:
    """Build the source application database from hidden onboarding personas, run it live, or send its history."""
    from onramp.local import services, simulator

    settings = get_settings()
    services.ensure_databases(settings, [settings.app_db])
    from onramp import migrations

    migrations.migrate(settings.app_db_url, "app")
    seed = settings.sim_seed if seed is None else seed
    if history:
        _send_history(settings, users or settings.sim_users, seed,
                      settings.sim_history_events_per_user if events_per_user is None else events_per_user,
                      processes, sink)
        return
    if live:
        target = sink or f"collector:http://{settings.collector_host}:{settings.collector_port}"
        counts = simulator.run_live(
            settings.app_db_url, seed=seed, rate=rate, duration_s=duration or None,
            max_events=max_events or None, sink=simulator.make_sink(target),
        )
        console.print(f"live simulation stopped; sent to {target}: {counts}")
        return
    counts = simulator.simulate_batch(settings.app_db_url, users=users or settings.sim_users, seed=seed, progress=True)
    table = Table("table", "rows", title=f"app database {settings.app_db} (seed {seed})")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


def _send_history(settings, users: int, seed: int, events_per_user: int, processes: int, sink: str) -> None:
    """``simulate --history``: the history of the app database, to the collector or a file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from onramp.local.simulator import make_sink
    from onramp.local.simulator.history import history_events
    from onramp.local.simulator.history_send import (
        HistoryError,
        Target,
        check_app_database,
        send_history,
        send_history_to_collector,
    )

    check_app_database(settings.app_db_url, users, seed)
    target = sink or f"collector:http://{settings.collector_host}:{settings.collector_port}"
    if not target.startswith("collector:"):  # a file keeps the _sim_ truth keys
        report = send_history(history_events(seed, users, events_per_user=events_per_user), make_sink(target))
        console.print(f"wrote {report.events:,} history events of {users:,} users to {target}")
        return
    from onramp.collector.config import load_write_keys

    url = target.removeprefix("collector:") or f"http://{settings.collector_host}:{settings.collector_port}"
    columns = (TextColumn("sending the history of"), BarColumn(), MofNCompleteColumn(), TextColumn("users"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("users", total=users)
        report = send_history_to_collector(
            seed, users, events_per_user, Target(url, next(iter(load_write_keys(settings)))), processes=processes,
            progress=lambda n: bar.advance(task, n))
    console.print(f"history of {users:,} users (seed {seed}): {report.events:,} events in {report.seconds:.0f} s "
                  f"({report.per_second:,.0f}/s); collector accepted {report.accepted:,}, dead-lettered "
                  f"{report.dead_lettered:,} ({report.invalid:,} broken on purpose); {report.skewed:,} from devices "
                  f"with a wrong clock")
    if report.refused:
        raise HistoryError(f"the collector refused {report.refused:,} events: {report.last_error}")


@airflow_app.command("up")
@friendly
def airflow_up() -> None:
    """Start Airflow (LocalExecutor, metadata in PostgreSQL) and print the UI URL and login."""
    from onramp.local import airflow_runtime, services

    settings = get_settings()
    services.up(settings)
    with console.status("migrating Airflow metadata database"):
        airflow_runtime.migrate_metadata(settings)
    with console.status("starting api-server, scheduler, dag-processor, triggerer"):
        creds = airflow_runtime.start(settings)
    console.print(f"Airflow UI: [bold]{creds.url}[/]  login: [bold]{creds.username}[/] / [bold]{creds.password}[/]")
    console.print(f"logs: {airflow_runtime.airflow_home(settings) / 'logs'}   stop with: make down")


@airflow_app.command("down")
@friendly
def airflow_down() -> None:
    """Stop every Airflow process Onramp started."""
    from onramp.local import airflow_runtime

    stopped = airflow_runtime.stop(get_settings())
    console.print(f"stopped Airflow {', '.join(stopped)}" if stopped else "Airflow was not running")


@airflow_app.command("status")
@friendly
def airflow_status() -> None:
    """List the Airflow processes Onramp started and the UI login."""
    from onramp.local import airflow_runtime

    settings = get_settings()
    alive = airflow_runtime.running(settings)
    for name in airflow_runtime.PROCESSES:
        console.print(f"{name:14} {'running pid ' + str(alive[name]) if name in alive else '[red]stopped[/]'}")
    if alive:
        creds = airflow_runtime.login(settings)
        console.print(f"UI {creds.url}  login {creds.username} / {creds.password}")


@web_app.command("serve")
@friendly
def web_serve() -> None:
    """Serve the example page in the foreground (ONRAMP_WEB_HOST / ONRAMP_WEB_PORT)."""
    from onramp.local import web_example

    settings = get_settings()
    console.print(f"example onboarding page at {web_example.url(settings)} "
                  f"(?sdk=segment or ?sdk=rudderstack), sending to {web_example.collector_url(settings)}")
    web_example.serve(settings)


@web_app.command("up")
@friendly
def web_up() -> None:
    """Serve the example page in the background (stopped by `onramp web down` or `make down`)."""
    from onramp.local import web_example

    settings = get_settings()
    address = web_example.start(settings)
    console.print(f"example onboarding page at {address} (log {web_example.log_path(settings)})")


@web_app.command("down")
@friendly
def web_down() -> None:
    """Stop the background example page."""
    from onramp.local import web_example

    console.print("stopped the example page" if web_example.stop(get_settings()) else "the example page was not running")


@app.command()
@friendly
def down() -> None:
    """Stop everything Onramp started: the example page, the collector, Airflow, then the embedded services."""
    from onramp.local import airflow_runtime, services, web_example
    from onramp.local import collector as collector_runtime

    settings = get_settings()
    stopped = (web_example.stop(settings) + collector_runtime.stop(settings) + airflow_runtime.stop(settings)
               + services.down(settings))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
@friendly
def demo(
    users: Annotated[int, typer.Option(min=1, help="users to simulate")] = None,  # type: ignore[assignment]
) -> None:
    """The main job: services, simulate, one full pipeline cycle through the real scheduler, summary."""
    from onramp.local import demo as demo_module

    ok = demo_module.run(get_settings(), users=users, console=console)
    if not ok:
        raise typer.Exit(1)


@collector_app.command("up")
@friendly
def collector_up() -> None:
    """Start the collector in the background (stopped by `onramp collector down` or `make down`)."""
    from onramp.local import collector as runtime

    settings = get_settings()
    address = runtime.start(settings)
    console.print(f"collector at {address} (log {runtime.log_path(settings)}); stop with: onramp collector down")


@collector_app.command("down")
@friendly
def collector_down() -> None:
    """Stop the background collector."""
    from onramp.local import collector as runtime

    console.print("stopped the collector" if runtime.stop(get_settings()) else "the collector was not running")


def register(main: typer.Typer, collector: typer.Typer) -> None:
    """Add the laptop commands to the ``onramp`` app and its ``collector`` sub-app."""
    main.add_typer(services_app, name="services")
    main.add_typer(airflow_app, name="airflow")
    main.add_typer(web_app, name="web")
    for command in app.registered_commands:
        main.registered_commands.append(command)
    for command in collector_app.registered_commands:
        collector.registered_commands.append(command)
