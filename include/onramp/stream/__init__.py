"""The event stream path: Redis stream -> micro-batches -> Parquet lake + warehouse ``raw.events``."""
