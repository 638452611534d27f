"""CDC incremental loads: declared application tables → Parquet lake → warehouse, exactly once (docs/cdc.md).

Modules: ``config`` (the sources file), ``catalog`` (source capabilities and table shape), ``pgoutput``
(protocol decoder), ``logical`` (slots, publications, bounded drain), ``changes`` (the change record),
``lake`` (Parquet files), ``gate`` (GX), ``warehouse`` (raw/staging apply, drift), ``state`` (ops),
``pipeline`` (extract → gate → apply for one table), ``tasks`` (what the DAG calls), ``cli``.
"""
