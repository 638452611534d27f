"""A small client of the Airflow 3 REST API (``/api/v2``): trigger a DAG, wait, report what failed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from onramp.local.airflow_runtime import Login, quote_id

TERMINAL = {"success", "failed"}


class AirflowApiError(RuntimeError):
    """The Airflow API refused or failed a call; the message says which and why."""


@dataclass
class TaskResult:
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    log_path: Path | None = None


@dataclass
class RunResult:
    dag_id: str
    run_id: str
    state: str
    seconds: float
    tasks: list[TaskResult] = field(default_factory=list)

    @property
    def failed_tasks(self) -> list[TaskResult]:
        return [t for t in self.tasks if t.state in ("failed", "upstream_failed")]


class AirflowClient:
    def __init__(self, login: Login, log_folder: Path | None = None, timeout: float = 30):
        self.login = login
        self.log_folder = log_folder
        self.http = httpx.Client(base_url=login.url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            response = self.http.post("/auth/token", json={"username": self.login.username, "password": self.login.password})
            if response.status_code not in (200, 201):
                raise AirflowApiError(
                    f"login to {self.login.url} as {self.login.username!r} failed ({response.status_code}): {response.text[:200]}"
                )
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, f"/api/v2{path}", headers=self._auth(), **kwargs)
        if response.status_code >= 400:
            raise AirflowApiError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else {}

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        """Wait until the dag-processor has parsed ``dag_id``; import errors are reported at once."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.http.get(f"/api/v2/dags/{quote_id(dag_id)}", headers=self._auth())
            if response.status_code == 200:
                return response.json()
            errors = self.import_errors()
            if errors:
                first = errors[0]
                raise AirflowApiError(f"DAG import error in {first['filename']}:\n{first['stack_trace'][-1200:]}")
            if time.monotonic() > deadline:
                raise AirflowApiError(f"DAG {dag_id!r} did not appear within {timeout:.0f}s; is it in dags/?")
            time.sleep(2)

    def import_errors(self) -> list[dict]:
        return self._call("GET", "/importErrors").get("import_errors", [])

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/dags/{quote_id(dag_id)}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None, note: str | None = None) -> str:
        body = {"logical_date": None, "conf": conf or {}}
        if note:
            body["note"] = note
        return self._call("POST", f"/dags/{quote_id(dag_id)}/dagRuns", json=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._call("GET", f"/dags/{quote_id(dag_id)}/dagRuns/{quote_id(run_id)}")["state"]

    def task_results(self, dag_id: str, run_id: str) -> list[TaskResult]:
        data = self._call("GET", f"/dags/{quote_id(dag_id)}/dagRuns/{quote_id(run_id)}/taskInstances", params={"limit": 1000})
        results = []
        for ti in data.get("task_instances", []):
            result = TaskResult(ti["task_id"], ti.get("map_index", -1), ti.get("state"), ti.get("try_number") or 0)
            if self.log_folder is not None and result.try_number:
                result.log_path = self._log_path(dag_id, run_id, result)
            results.append(result)
        return results

    def _log_path(self, dag_id: str, run_id: str, task: TaskResult) -> Path:
        path = self.log_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task.task_id}"
        if task.map_index >= 0:
            path = path / f"map_index={task.map_index}"
        return path / f"attempt={task.try_number}.log"

    def run_and_wait(self, dag_id: str, conf: dict | None = None, timeout: float = 900, poll: float = 2) -> RunResult:
        """Unpause, trigger and wait for one run of ``dag_id``; returns its state and task results."""
        self.wait_for_dag(dag_id)
        self.unpause(dag_id)
        started = time.monotonic()
        run_id = self.trigger(dag_id, conf, note="triggered by onramp")
        state = "queued"
        while time.monotonic() - started < timeout:
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL:
                break
            time.sleep(poll)
        else:
            state = f"timed out after {timeout:.0f}s (last state {state})"
        return RunResult(dag_id, run_id, state, time.monotonic() - started, self.task_results(dag_id, run_id))
