"""Every DAG imports cleanly, explains itself, retries, and does no I/O while being parsed."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))
PUBLIC_DAG_IDS = {"platform_smoke", "cdc_app_db", "events_stream_load", "dlq_replay"}  # grows as issues add DAGs (DESIGN.md lists the contract ids)


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dagbag.import_errors.items())


def test_every_file_defines_the_dag_named_after_it(dagbag):
    assert DAG_FILES, "dags/ holds no DAG file"
    for path in DAG_FILES:
        assert path.stem in dagbag.dags, f"{path.name} must define the DAG {path.stem!r} (dag_id = file name)"
    assert PUBLIC_DAG_IDS <= set(dagbag.dags)


def test_dags_are_documented_tagged_owned_and_retried(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md.strip()) > 40, f"{dag_id}: set doc_md=__doc__ with a real explanation"
        assert dag.tags, f"{dag_id}: add tags"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id}: set an owner in default_args"
            assert task.retries >= 2, f"{dag_id}.{task.task_id}: retries must be >= 2, is {task.retries}"


def test_no_airflow2_import_paths():
    legacy = re.compile(r"from airflow import DAG|airflow\.decorators|schedule_interval|airflow\.operators\.(python|bash|dummy)|DummyOperator")
    offenders = []
    for folder in ("dags", "include", "plugins"):
        for path in (REPO / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if legacy.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "Airflow 2 paths (use airflow.sdk and providers):\n" + "\n".join(offenders)


def _imports(path: Path, module: str) -> list[int]:
    """Line numbers of ``path`` importing ``module`` (or a submodule), at any level of the file."""
    pattern = re.compile(rf"^\s*(from {re.escape(module)}(\.[\w.]+)? import|import {re.escape(module)}\b)")
    return [n for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.match(line)]


def test_only_the_boundary_package_imports_airflow():
    """Logic in include/onramp is importable and testable without a scheduler; onramp/airflow is the boundary."""
    package = REPO / "include" / "onramp"
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in package.rglob("*.py")
                 if package / "airflow" not in path.parents for n in _imports(path, "airflow")]
    assert not offenders, f"only include/onramp/airflow/ may import Airflow: {offenders}"


def test_dags_take_their_tasks_from_the_boundary():
    """DAG files wire: their tasks come from onramp.airflow (never defined inline, never other logic)."""
    for path in DAG_FILES:
        text = path.read_text()
        assert "from onramp.airflow" in text, f"{path.name}: import its tasks from onramp.airflow"
        inline = re.findall(r"^@task\b", text, flags=re.M)
        assert not inline, f"{path.name} defines tasks itself; move them to include/onramp/airflow/"


def test_production_code_never_imports_the_laptop_tooling():
    """onramp.local (embedded servers, local Airflow, demo, simulator) is tooling; production never needs it."""
    package = REPO / "include" / "onramp"
    composition_roots = {package / "cli.py", package / "cli_support.py"}  # the `onramp` command offers both
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in package.rglob("*.py")
                 if package / "local" not in path.parents and path not in composition_roots
                 for n in _imports(path, "onramp.local")]
    assert not offenders, offenders
