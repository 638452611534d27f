"""The warehouse models (marts and features): the dbt project in ``sql/dbt``, built by Cosmos, gated, published.

dbt builds staging → intermediate → marts and features; the analyst-facing models land as candidates in
``marts_build`` and ``features_build``. :mod:`onramp.marts.dbt` runs the project in process and says which
nodes failed (``onramp marts build``); :mod:`onramp.marts.manifest` reads the prebuilt manifest the DAG is
rendered from; :mod:`onramp.marts.gate` validates the candidates with Great Expectations;
:mod:`onramp.marts.publish` then makes them what analysts read in ``marts`` and ``features``, in one
transaction. Nothing here imports Airflow.
"""
