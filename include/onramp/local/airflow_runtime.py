"""Run a local Airflow 3 (api-server, scheduler, dag-processor, triggerer; LocalExecutor) for Onramp.

Every process gets the same environment from :func:`airflow_env` (Airflow connections included:
they must reach the scheduler and the task processes, not only the shell that starts them), writes
its log to ``<home>/airflow/logs/<process>.log`` and its pid to ``<home>/run/airflow-<process>.pid``,
and runs in its own process group (:mod:`onramp.local.processes`) so :func:`stop` leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from onramp.endpoints import airflow_connections
from onramp.local import processes
from onramp.settings import PROJECT_ROOT, Settings

PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN_USER = "admin"


class AirflowRuntimeError(RuntimeError):
    """Airflow could not be started or reached; the message says where to look."""


@dataclass(frozen=True)
class Login:
    url: str
    username: str
    password: str


def airflow_home(settings: Settings) -> Path:
    return settings.home_path / "airflow"


def _secrets(settings: Settings) -> dict[str, str]:
    """Per-installation secrets (JWT, Fernet, admin password), made once and kept in the state folder."""
    path = airflow_home(settings) / "onramp_secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {
        "jwt_secret": secrets.token_urlsafe(32),
        "fernet_key": Fernet.generate_key().decode(),
        "admin_password": secrets.token_urlsafe(12),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def api_url(settings: Settings) -> str:
    return f"http://{settings.airflow_host}:{settings.airflow_port}"


def airflow_env(settings: Settings, base: dict[str, str] | None = None, dags_folder: Path | None = None) -> dict[str, str]:
    """Environment for every Airflow process and CLI call run by Onramp (``dags_folder``: another DAG folder
    than the project's, for benchmarks)."""
    env = dict(os.environ if base is None else base)
    home = airflow_home(settings)
    keys = _secrets(settings)
    parts = urlsplit(settings.airflow_db_url)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(settings.airflow_parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url(settings)}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{parts.netloc}{parts.path}",
            "AIRFLOW__API__HOST": settings.airflow_host,
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__BASE_URL": api_url(settings),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            **airflow_connections(settings),  # derived from the settings, never configured beside them
            "NO_PROXY": "*",
        }
    )
    # Task processes read the same Onramp settings as the command that started Airflow.
    env.update(settings.as_env())
    env["ONRAMP_LAKE_DIR"] = str(settings.lake_path)
    return env


def _write_password_file(settings: Settings) -> Login:
    """Pin the admin password so ``make up`` can print a login that works."""
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    password = _secrets(settings)["admin_password"]
    (home / "simple_auth_manager_passwords.json").write_text(json.dumps({ADMIN_USER: password}))
    return Login(api_url(settings), ADMIN_USER, password)


def login(settings: Settings) -> Login:
    return Login(api_url(settings), ADMIN_USER, _secrets(settings)["admin_password"])


def airflow_cli(settings: Settings, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``airflow <args>`` with Onramp's environment; raises with the output tail on failure."""
    binary = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(binary), *args], env=airflow_env(settings), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise AirflowRuntimeError(f"`airflow {' '.join(args)}` failed (exit {result.returncode}):\n{tail}")
    return result


def migrate_metadata(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata schema in the ``airflow`` database."""
    airflow_cli(settings, "db", "migrate")


def _names() -> list[str]:
    return [f"airflow-{name}" for name in PROCESSES]


def running(settings: Settings) -> dict[str, int]:
    """Airflow processes started by Onramp that are still alive, by name."""
    return {name.removeprefix("airflow-"): pid for name, pid in processes.running(settings, _names()).items()}


def start(settings: Settings, dags_folder: Path | None = None) -> Login:
    """Start the four Airflow processes (idempotent) and wait until the API answers."""
    creds = _write_password_file(settings)
    already = running(settings)
    env = airflow_env(settings, dags_folder=dags_folder)
    binary = Path(sys.executable).with_name("airflow")
    logs = airflow_home(settings) / "logs"
    for name in PROCESSES:
        if name not in already:
            processes.spawn(settings, f"airflow-{name}", [str(binary), name], env, logs / f"{name}.log")
    wait_for_api(settings)
    return creds


def wait_for_api(settings: Settings, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    url = f"{api_url(settings)}/api/v2/monitor/health"
    while time.monotonic() < deadline:
        dead = [name for name in PROCESSES if name not in running(settings)]
        if dead:
            log = airflow_home(settings) / "logs" / f"{dead[0]}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
            raise AirflowRuntimeError(f"Airflow {dead[0]} exited during start-up; its log {log} ends:\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AirflowRuntimeError(
        f"the Airflow API at {api_url(settings)} did not answer within {timeout:.0f}s; "
        f"see {airflow_home(settings) / 'logs' / 'api-server.log'}"
    )


def stop(settings: Settings, timeout: float = 30) -> list[str]:
    """Stop every Airflow process Onramp started, children included; returns the names stopped."""
    return [name.removeprefix("airflow-") for name in processes.stop(settings, _names(), timeout)]


def quote_id(value: str) -> str:
    return quote(value, safe="")
