"""Run the dbt project in ``sql/dbt`` in process, pointed at the warehouse of the settings.

The project reads its connection only from ``ONRAMP_DBT_*`` variables (``sql/dbt/profiles.yml``);
:func:`dbt_env` derives them from the settings, the one source of every endpoint. Artifacts (manifest, run
results, partial-parse state) and dbt's log go to the state folder, ``<ONRAMP_HOME>/dbt/target`` and
``<ONRAMP_HOME>/dbt/logs``, never into the repository.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from onramp.settings import PROJECT_ROOT, Settings, get_settings

PROJECT_DIR = PROJECT_ROOT / "sql" / "dbt"
FAILED = ("error", "fail", "runtime error")
# dbt reads its profile from os.environ: one invocation at a time changes it in this process
_ENV_LOCK = threading.Lock()


class DbtFailed(RuntimeError):
    """A dbt command failed; the message names the failed nodes and the command that re-runs them."""

    def __init__(self, message: str, nodes: list[NodeStatus] | None = None):
        super().__init__(message)
        self.nodes = nodes or []


@dataclass(frozen=True)
class NodeStatus:
    """What became of one node (model, test, seed) in a dbt run."""

    unique_id: str
    name: str
    resource_type: str
    status: str
    seconds: float
    message: str
    model: str | None = None  # for a test: the model it tests
    fix: str | None = None  # the node's own repair command (config meta.fix), when re-running is not enough

    @property
    def failed(self) -> bool:
        return self.status in FAILED


@dataclass(frozen=True)
class DbtRun:
    """A dbt command that succeeded: its nodes and how long it took."""

    args: list[str]
    nodes: list[NodeStatus]
    elapsed_s: float
    target_path: Path


def target_path(settings: Settings | None = None) -> Path:
    """Where dbt writes manifest.json and run_results.json for these settings."""
    return (settings or get_settings()).home_path / "dbt" / "target"


def log_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home_path / "dbt" / "logs"


def dbt_env(settings: Settings | None = None) -> dict[str, str]:
    """The ``ONRAMP_DBT_*`` variables ``sql/dbt/profiles.yml`` reads, for the warehouse of ``settings``."""
    settings = settings or get_settings()
    url = urlsplit(settings.warehouse_url)
    query = dict(parse_qsl(url.query))
    env = {
        "ONRAMP_DBT_HOST": url.hostname or query.get("host") or "127.0.0.1",
        "ONRAMP_DBT_PORT": str(url.port or 5432),
        # libpq's default when the URL names no user: the operating-system user
        "ONRAMP_DBT_USER": unquote(url.username) if url.username else os.environ.get("PGUSER", getpass.getuser()),
        "ONRAMP_DBT_PASSWORD": unquote(url.password) if url.password else "",
        "ONRAMP_DBT_DBNAME": unquote(url.path.lstrip("/")) or settings.warehouse_db,
    }
    if "sslmode" in query:
        env["ONRAMP_DBT_SSLMODE"] = query["sslmode"]
    return env


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run_dbt(args: list[str], settings: Settings | None = None, vars: dict[str, Any] | None = None, *,
            quiet: bool = False, target: Path | None = None) -> DbtRun:
    """Run ``dbt <args>`` (e.g. ``["build", "--select", "marts"]``) on the warehouse; raise :class:`DbtFailed`
    naming the failed nodes, and what to re-run, when any node fails or dbt cannot run at all.
    ``target``: write the artifacts there instead of the state folder (the manifest the DAG is rendered from)."""
    from dbt.cli.main import dbtRunner

    settings = settings or get_settings()
    command = [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
               "--target-path", str(target or target_path(settings)), "--log-path", str(log_path(settings))]
    if vars:
        command += ["--vars", json.dumps(vars, default=str)]
    if quiet:
        command.insert(0, "--quiet")
    with _environment(dbt_env(settings)):
        outcome = dbtRunner().invoke(command)
    nodes = _nodes(outcome.result)
    if outcome.exception is not None:
        raise DbtFailed(f"dbt {args[0]} could not run: {_summary(outcome.exception)} (full log: "
                        f"{log_path(settings) / 'dbt.log'})", nodes)
    if not outcome.success:
        raise DbtFailed(_failure_message(args, vars, nodes, settings), nodes)
    return DbtRun(args=list(args), nodes=nodes, elapsed_s=float(getattr(outcome.result, "elapsed_time", 0.0) or 0.0),
                  target_path=target or target_path(settings))


def _nodes(result: Any) -> list[NodeStatus]:
    """The node results of a build/run/test invocation (none for parse or ls)."""
    nodes = []
    for item in getattr(result, "results", None) or []:
        node = item.node
        attached = getattr(node, "attached_node", None)
        if attached is None and node.resource_type == "test":
            models = [n for n in node.depends_on.nodes if n.startswith("model.")]
            attached = models[0] if models else None
        nodes.append(NodeStatus(
            unique_id=node.unique_id, name=node.name, resource_type=str(node.resource_type), status=str(item.status),
            seconds=round(float(item.execution_time or 0.0), 3), message=_summary(item.message or ""),
            model=attached.split(".")[-1] if attached else None, fix=(node.config.meta or {}).get("fix")))
    return nodes


def _failure_message(args: list[str], vars: dict[str, Any] | None, nodes: list[NodeStatus],
                     settings: Settings) -> str:
    failed = [n for n in nodes if n.failed]
    skipped = sum(1 for n in nodes if n.status == "skipped")
    what = "; ".join(f"{n.resource_type} {n.name} {n.status}: {n.message}" for n in failed) or "see the log"
    commands = sorted({n.fix for n in failed if n.fix})
    restart = sorted({n.model or n.name for n in failed
                      if not n.fix and n.resource_type in ("model", "test", "seed", "snapshot")})
    if args and args[0] == "build" and (restart or not commands):
        as_of = (vars or {}).get("as_of_date")
        select = " ".join(f"{name}+" for name in restart)
        commands.append("onramp marts build" + (f" --select '{select}'" if select else "")
                        + (f" --as-of {as_of}" if as_of else ""))
    elif not commands:
        commands.append(f"dbt {' '.join(args)} --project-dir {PROJECT_DIR}")
    rerun = "; ".join(commands)
    return (f"dbt {args[0] if args else ''} failed: {what}"
            + (f"; {skipped} downstream node(s) skipped" if skipped else "")
            + f". Fix the data or the model, then re-run: {rerun} (log: {log_path(settings) / 'dbt.log'})")


def _summary(value: Any, limit: int = 400) -> str:
    """dbt's message on one line: its first lines (the headline, then the database's or parser's words)."""
    lines = [line.strip() for line in str(value).strip().splitlines()
             if line.strip() and not set(line.strip()) <= {"-", "^"} and not line.strip().startswith("compiled code at")]
    text = " ".join(lines)
    return text if len(text) <= limit else text[:limit - 1] + "…"
