"""The Airflow boundary: the only package of Onramp that imports Airflow.

Each module holds the task callables (and the Assets, triggers and schedules) of one DAG family; they
turn Airflow's context into plain arguments, call the logic in the rest of ``onramp`` (which never imports
Airflow and is tested without a scheduler), and turn the result back into XCom values and Asset events.
DAG files in ``dags/`` import from here and only wire.

| module | DAGs |
| --- | --- |
| :mod:`onramp.airflow.cdc` | ``cdc_app_db`` |
| :mod:`onramp.airflow.events` | ``events_stream_load``, ``dlq_replay`` |
| :mod:`onramp.airflow.smoke` | ``platform_smoke`` |
| :mod:`onramp.airflow.triggers` | the ``events_stream`` Asset's watcher |
"""
