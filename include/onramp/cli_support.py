"""What every ``onramp`` sub-command shares: consoles and the one-clear-line error handling."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer
from rich.console import Console

# Piped output (CI logs, `make demo | tee`) gets a wide console instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 140
console = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)


def known_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message already says what was wrong and what to do."""
    from onramp.cdc.errors import CdcError
    from onramp.collector.plan import PlanError
    from onramp.collector.workers import PortInUse, WorkerFailed
    from onramp.db import DatabaseUnavailable
    from onramp.local.airflow_client import AirflowApiError
    from onramp.local.airflow_runtime import AirflowRuntimeError
    from onramp.local.processes import ServiceStartError
    from onramp.local.services import ServiceError
    from onramp.local.simulator.history_send import HistoryError
    from onramp.local.simulator.sinks import SinkError
    from onramp.local.web_example import WebExampleError
    from onramp.marts.dbt import DbtFailed
    from onramp.migrations import MigrationError
    from onramp.quality import GateFailed, SuiteError
    from onramp.settings import SettingsError
    from onramp.stream.entries import StreamFormatError

    return (SettingsError, DatabaseUnavailable, ServiceError, MigrationError, AirflowRuntimeError, AirflowApiError, CdcError,
            GateFailed, SuiteError, SinkError, PlanError, ServiceStartError, PortInUse, WorkerFailed,
            WebExampleError, StreamFormatError, DbtFailed, HistoryError)


def _unreachable(exc: BaseException) -> str | None:
    """A server that does not answer, said in one line with the fix; None for anything else."""
    import psycopg
    import redis

    if isinstance(exc, redis.exceptions.ConnectionError):
        return f"cannot reach Redis ({exc}); start it with `onramp services up` or fix ONRAMP_REDIS_URL"
    if isinstance(exc, psycopg.OperationalError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (f"cannot use PostgreSQL ({first}); start it with `onramp services up` "
                "or fix ONRAMP_PG_URL / ONRAMP_APP_PG_URL")
    return None


def friendly(fn: Callable) -> Callable:
    """Turn the errors a user can act on into one clear message and exit code 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            message = str(exc) if isinstance(exc, known_errors()) else _unreachable(exc)
            if message is None:
                raise
            err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper
