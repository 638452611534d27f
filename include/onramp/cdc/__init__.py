"""CDC incremental loads: declared application tables → Parquet lake → warehouse, exactly once (docs/cdc.md).

Public surface: :mod:`onramp.cdc.cycle` (``extract``, ``gate``, ``apply``, ``run_table``, ``Context``);
the DAG calls it through :mod:`onramp.cdc.steps` (ids and JSON-able dicts), people through ``cli``.

One cycle, in the order it runs:

* ``config`` the sources file; ``context`` where one table's cycle reads and writes; ``mode`` log or xmin;
* ``extract`` step 1: ``extract_log`` (slot + ``logical`` drain of ``pgoutput``), ``extract_xmin``
  (transaction-id windows, key reconciliation), ``snapshot`` (chunked reads), ``early_load`` (chunks
  gated and loaded while the extraction reads on), ``changes`` (the change record), ``lake`` (Parquet);
* ``gate`` step 2 (GX);
* ``apply`` step 3: ``work_table`` (snapshot chunks, once each), ``warehouse`` (raw, staging, drift),
  then the slot confirm; ``slot_lag`` the WAL guardrail;
* ``manifest`` what the steps hand each other (typed; plain dicts through XCom); ``state`` load state
  in ``ops``; ``catalog`` the source's capabilities and table shape; ``pgtypes`` type mapping; ``drift`` column comparison;
  ``dynamic_sql`` every statement built from a table's names (static SQL is in ``sql/cdc/``);
  ``failpoints`` where the crash tests kill a cycle; ``errors``.
"""
