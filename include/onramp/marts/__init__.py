"""The warehouse models (marts and features): a dbt project in ``sql/dbt`` built by Cosmos, then gated and published.

dbt builds candidates into ``marts_build`` and ``features_build``; :mod:`onramp.marts.gate` validates them
with Great Expectations; :mod:`onramp.marts.publish` then makes them what analysts read in ``marts`` and
``features``, in one transaction. Nothing here imports Airflow.
"""
