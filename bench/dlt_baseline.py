"""dlt's fastest configuration for one PostgreSQL table into PostgreSQL, run by bench/cdc.py in its own venv.

sql_database source with the connectorx backend (Arrow end to end) and parquet loader files; prints one
JSON line: seconds, rows and peak RSS of this process.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from urllib.parse import urlsplit, urlunsplit


def main(source_url: str, warehouse_url: str, table: str, workdir: str) -> None:
    import dlt
    from dlt.sources.sql_database import sql_database

    parts = urlsplit(warehouse_url)
    if parts.password is None and parts.username:  # dlt insists on a password; trust auth never asks for it
        warehouse_url = urlunsplit(parts._replace(netloc=parts.netloc.replace("@", ":unused@", 1)))
    started = time.perf_counter()
    pipeline = dlt.pipeline(pipeline_name="onramp_bench", pipelines_dir=workdir,
                            destination=dlt.destinations.postgres(credentials=warehouse_url), dataset_name="dlt_bench")
    # SQLAlchemy (reflection) needs the psycopg2 dialect named; connectorx reads with its own driver.
    source = sql_database(credentials=source_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                          table_names=[table], backend="connectorx", backend_kwargs={"conn": source_url})
    info = pipeline.run(source, loader_file_format="parquet", write_disposition="replace")
    seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()
    rows = pipeline.last_trace.last_normalize_info.row_counts.get(table, 0)
    print(json.dumps({"seconds": seconds, "rows": rows,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
