"""Warehouse models: the dbt project in ``sql/dbt`` (staging → intermediate → marts, features).

:mod:`onramp.marts.dbt` runs it in process and says which nodes failed; :mod:`onramp.marts.cli` is
``onramp marts build``. Nothing here imports Airflow: the ``warehouse_marts`` DAG renders the project with
Cosmos and takes its connection settings from :func:`onramp.marts.dbt.dbt_env`.
"""
