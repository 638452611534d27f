"""The main job: set up, simulate, run one pipeline cycle through the real scheduler, summarize."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg
from rich.console import Console
from rich.table import Table

from onramp import db
from onramp.settings import Settings, SettingsError, redact

if TYPE_CHECKING:
    from onramp.local.simulator.history_send import HistoryReport

# One pipeline cycle, in order. Each issue that adds a stage adds its DAG here.
PIPELINE_CYCLE: list[str] = ["platform_smoke", "cdc_app_db", "events_stream_load", "warehouse_marts"]
LIVE_RATE = 1_000  # events/s the demo's live simulation aims at


@dataclass
class StageReport:
    name: str
    seconds: float
    ok: bool
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""


def _timed(reports: list[StageReport], name: str, console: Console):
    class _Stage:
        def __enter__(self):
            self.started = time.monotonic()
            self.report = StageReport(name, 0.0, False)
            console.rule(f"[bold]{name}")
            return self.report

        def __exit__(self, exc_type, exc, tb):
            self.report.seconds = time.monotonic() - self.started
            self.report.ok = exc_type is None and not self.report.detail.startswith("FAILED")
            reports.append(self.report)
            return False

    return _Stage()


def run(settings: Settings, users: int | None = None, console: Console | None = None) -> bool:
    """Run the whole demo; returns True when every stage succeeded."""
    from onramp.local import airflow_runtime, processes, services, simulator, web_example
    from onramp.local import collector as collector_runtime
    from onramp.local.airflow_client import AirflowClient

    console = console or Console()
    reports: list[StageReport] = []
    users = users or settings.sim_users

    with _timed(reports, "services", console) as stage:
        modes = services.up(settings)
        stage.detail = ", ".join(f"{name} {mode}" for name, mode in modes.items())
        console.print(stage.detail)

    with _timed(reports, "simulate", console) as stage:
        stage.counts = simulator.simulate_batch(settings.app_db_url, users=users, seed=settings.sim_seed, progress=True)

    with _timed(reports, "airflow", console) as stage:
        with console.status("migrating Airflow metadata"):
            airflow_runtime.migrate_metadata(settings)
        with console.status("starting Airflow"):
            creds = airflow_runtime.start(settings)
        stage.detail = f"UI {creds.url}"

    with _timed(reports, "collector + live events", console) as stage:
        with console.status("starting the collector"):
            address = collector_runtime.start(settings)
        sink = simulator.collector_sink(address)
        history = _send_history(settings, users, address, console)  # what happened before the live events
        with console.status(f"sending {settings.sim_live_events:,} live changes and events to {address} (Segment SDK)"):
            live = simulator.run_live(settings.app_db_url, seed=settings.sim_seed, rate=LIVE_RATE, duration_s=None,
                                      max_events=settings.sim_live_events, sink=sink)
        sdk = sink.stats()
        stage.counts = {**_history_counts(history), "events sent": sdk["sent"], "refused": sdk["errors"],
                        **{k: v for k, v in live.items() if k in ("signups", "steps_completed", "upgrades", "deletions")}}
        stage.detail = f"collector {address}"
        refused = sdk["errors"] + (history.refused if history else 0)
        if refused:
            error = sdk["last_error"] or (history.last_error if history else None)
            stage.detail = f"FAILED: the collector refused {refused} events: {error}"
            console.print(f"[red]{stage.detail}[/]")
        else:
            console.print(f"{sdk['sent']:,} live events accepted by {address}")
        try:  # a page of its own origin, instrumented with the browser SDKs, for a visitor's point of view
            web_page = web_example.start(settings)
        except (web_example.WebExampleError, SettingsError, processes.ServiceStartError) as exc:
            web_page = f"not served: {exc}"
        console.print(f"example onboarding page: {web_page}")

    client = AirflowClient(creds, log_folder=airflow_runtime.airflow_home(settings) / "logs")
    all_ok = True
    try:
        for dag_id in PIPELINE_CYCLE:
            with _timed(reports, f"dag {dag_id}", console) as stage:
                with console.status(f"running {dag_id} through the scheduler"):
                    result = client.run_and_wait(dag_id)
                stage.counts = {"tasks": len(result.tasks),
                                "succeeded": sum(t.state == "success" for t in result.tasks)}
                if skipped := sum(t.state == "skipped" for t in result.tasks):
                    stage.counts["skipped (nothing new)"] = skipped
                if result.state != "success":
                    all_ok = False
                    lines = [f"FAILED: run {result.run_id} ended {result.state}"]
                    for task in result.failed_tasks or result.tasks:
                        lines.append(f"  task {task.task_id}: {task.state}; log {task.log_path}")
                    stage.detail = "\n".join(lines)
                    console.print(f"[red]{stage.detail}[/]")
                    break
                stage.detail = f"run {result.run_id} succeeded"
                console.print(stage.detail)
    finally:
        client.close()

    stage_counts = _warehouse_counts(settings)
    _print_summary(console, settings, reports, creds, stage_counts, all_ok, web_page)
    if all_ok:
        _print_funnel(console, settings)
    return all_ok and all(r.ok for r in reports)


def _send_history(settings: Settings, users: int, address: str, console: Console) -> HistoryReport | None:
    """The simulated users' event history through the collector (None when ONRAMP_SIM_HISTORY_EVENTS_PER_USER=0)."""
    if not settings.sim_history_events_per_user:
        return None
    from onramp.collector.config import load_write_keys
    from onramp.local.simulator.history_send import Target, send_history_to_collector

    with console.status(f"sending the event history of {users:,} users to {address} (Segment SDK, "
                        f"~{settings.sim_history_events_per_user} events per user)"):
        report = send_history_to_collector(settings.sim_seed, users, settings.sim_history_events_per_user,
                                           Target(address, next(iter(load_write_keys(settings)))))
    console.print(f"history: {report.events:,} events in {report.seconds:.0f} s ({report.per_second:,.0f}/s); "
                  f"accepted {report.accepted:,}, dead-lettered {report.dead_lettered:,} "
                  f"({report.invalid:,} broken on purpose), {report.skewed:,} from devices with a wrong clock")
    return report


def _history_counts(report: HistoryReport | None) -> dict[str, int]:
    if report is None:
        return {}
    return {"history events": report.events, "history accepted": report.accepted,
            "history dead-lettered": report.dead_lettered, "history events/s": round(report.per_second)}


def _warehouse_counts(settings: Settings) -> dict[str, int]:
    """Rows per warehouse table the cycle writes, for the summary."""
    counts: dict[str, int] = {}
    with db.connect(settings.warehouse_url, "demo", connect_timeout_s=5) as conn:
        for schema, table in conn.execute(db.sql("admin", "warehouse_tables")).fetchall():
            counts[f"{schema}.{table}"] = conn.execute(
                psycopg.sql.SQL("select count(*) from {}").format(psycopg.sql.Identifier(schema, table))
            ).fetchone()[0]
    return counts


def _print_funnel(console: Console, settings: Settings) -> None:
    """The last 7 days of marts.onboarding_funnel, as an analyst would first look at it."""
    try:
        with db.connect(settings.warehouse_url, "demo", connect_timeout_s=5) as conn:
            rows = conn.execute(db.sql("marts", "funnel_last_days")).fetchall()
    except psycopg.Error as exc:
        console.print(f"[yellow]no funnel to show: {db.first_line(exc)}[/]")
        return
    table = Table("day", "steps entered", "completed", "drop-off", "completion", "median time to complete",
                  title="Onboarding funnel, last 7 days (marts.onboarding_funnel)")
    for day, entered, completed, drop_off, median in rows:
        rate = f"{completed / entered:.0%}" if entered else "-"
        minutes = f"{median / 60:.1f} min" if median is not None else "-"
        table.add_row(str(day), f"{entered:,}", f"{completed:,}", f"{drop_off:,}", rate, minutes)
    console.print(table)


def _print_summary(console: Console, settings: Settings, reports: list[StageReport], creds, warehouse: dict[str, int],
                   ok: bool, web_page: str) -> None:
    table = Table("stage", "result", "seconds", "counts", title="Onramp demo: one pipeline cycle")
    for r in reports:
        counts = ", ".join(f"{k} {v:,}" for k, v in r.counts.items())
        table.add_row(r.name, "[green]ok[/]" if r.ok else "[red]failed[/]", f"{r.seconds:.1f}", counts)
    console.print(table)
    wh = Table("warehouse table", "rows", title=f"warehouse {settings.warehouse_db}")
    for name, count in warehouse.items():
        wh.add_row(name, f"{count:,}")
    console.print(wh)
    console.print(f"Airflow UI:  {creds.url}  (login {creds.username} / {creds.password})")
    console.print(f"App DB:      {redact(settings.app_db_url)}")
    console.print(f"Warehouse:   {redact(settings.warehouse_url)}")
    console.print(f"Collector:   http://{settings.collector_host}:{settings.collector_port}  (Segment HTTP API; "
                  "/metrics, /openapi.json)")
    console.print(f"Web page:    {web_page}  (a sign-up sent by analytics.js; ?sdk=rudderstack for RudderStack's SDK)")
    console.print(f"Lake:        {settings.lake_path}")
    console.print(f"Logs:        {settings.home_path / 'airflow' / 'logs'}")
    console.print("Airflow, the collector and the page keep running so you can look around; `make down` stops everything.")
    console.print("[bold green]demo succeeded[/]" if ok else "[bold red]demo failed: see the failing task's log above[/]")
