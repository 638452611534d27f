"""The four steps of one table's CDC cycle as the ``cdc_app_db`` DAG runs them: ids in, JSON-able dicts out.

No Airflow here: the boundary (:mod:`onramp.airflow.cdc`) passes the run id, the backfill parameter and a
lookup into Airflow's connection store for source connections that are not Onramp's own. This is where the
typed manifest and apply result (:mod:`onramp.cdc.manifest`) become the plain dicts XCom carries, and back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from onramp.cdc.config import CdcConfig, load_config
from onramp.endpoints import url_for
from onramp.settings import get_settings

if TYPE_CHECKING:
    from onramp.cdc.cycle import Context

# The DAG file imports this module to wire cdc_app_db, and every task process parses the DAG file again:
# the loader's own imports (pyarrow, ADBC, which pulls in pandas, psycopg2) load inside the step that needs
# them, so a task that has nothing to do never pays for them (bench/cdc_dag.py measures this).

ConnectionLookup = Callable[[str], str | None]


def dag_schedule() -> str | None:
    """``ONRAMP_CDC_SCHEDULE`` (a cron expression, or ``none`` for trigger-only), read at parse time."""
    value = get_settings().cdc_schedule.strip()
    return None if value.lower() in ("", "none") else value


def dag_pool() -> str:
    """Pool of the CDC tasks (``ONRAMP_CDC_POOL``; Airflow's default pool unless one was created for CDC)."""
    return get_settings().cdc_pool


def table_ids(config: CdcConfig | None = None) -> list[str]:
    """Declared tables, for the DAG's mapping and its backfill parameter (read from the repo's file)."""
    return [t.id for t in (config or load_config()).tables]


def context(table_id: str, run_id: str, lookup: ConnectionLookup | None = None) -> Context:
    """Where one table's cycle reads and writes, every endpoint through :func:`onramp.endpoints.url_for`."""
    from onramp.cdc.cycle import Context

    config = load_config()
    table = config.find(table_id)
    source = config.source(table.source)
    return Context(config, table, url_for(source.conn_id, airflow_lookup=lookup),
                   url_for(config.warehouse_conn_id, airflow_lookup=lookup), get_settings().lake_path, run_id)


def extract_step(table_id: str, run_id: str, backfill_table: str | None, lookup: ConnectionLookup | None = None) -> dict:
    """Step 1: capture changes (or the snapshot; a full one when this table is the requested backfill)."""
    from onramp.cdc.cycle import extract

    resnapshot = bool(backfill_table) and backfill_table == table_id
    return extract(context(table_id, run_id, lookup), resnapshot=resnapshot).to_dict()


def gate_step(manifest: dict, run_id: str, lookup: ConnectionLookup | None = None) -> dict:
    """Step 2: validate the batch's files with GX; a failure quarantines them and stops this table."""
    from onramp.cdc.cycle import gate
    from onramp.cdc.manifest import Manifest

    typed = Manifest.from_dict(manifest)
    return gate(context(typed.table, run_id, lookup), typed).to_dict()


def apply_step(manifest: dict, run_id: str, lookup: ConnectionLookup | None = None) -> dict:
    """Step 3: apply to raw and staging in one transaction, then confirm the slot."""
    from onramp.cdc.cycle import apply
    from onramp.cdc.manifest import Manifest

    typed = Manifest.from_dict(manifest)
    return apply(context(typed.table, run_id, lookup), typed).to_dict()


def check_lag_step(result: dict) -> dict:
    """Step 4: fail loudly when the table's slot was further behind than its limit."""
    from onramp.cdc.manifest import ApplyResult
    from onramp.cdc.slot_lag import enforce_slot_lag

    typed = ApplyResult.from_dict(result)
    enforce_slot_lag(typed)
    return typed.slot_lag.to_dict() if typed.slot_lag else {}


def changed(result: dict) -> bool:
    """Whether the apply changed staging (only then is the table's Asset event worth emitting)."""
    from onramp.cdc.manifest import ApplyResult

    return ApplyResult.from_dict(result).changed_staging
