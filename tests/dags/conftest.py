"""The DAG folder parsed once per session, with every way out blocked."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dagbag():
    """Parse dags/ with every way out blocked: a DAG that connects anywhere at parse time fails here."""
    import psycopg
    import psycopg2

    def refuse(*args, **kwargs):
        raise AssertionError(f"DAG parsing tried to open a connection ({args[1:] or args or kwargs})")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(psycopg, "connect", refuse)
        patch.setattr(psycopg.Connection, "connect", refuse)
        patch.setattr(psycopg2, "connect", refuse)
        patch.setenv("PGHOST", "/nonexistent")  # libpq-level connections fail too
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=str(REPO / "dags"))


