#!/usr/bin/env bash
# Onramp's image entrypoint: derive Airflow's connections (onramp_app_db, onramp_warehouse, onramp_redis) from
# the ONRAMP_* settings, the one source of every endpoint, then hand over to the official Airflow entrypoint.
# Every process of the deployment (scheduler, workers, triggerer, the collector...) starts through here.
set -euo pipefail
eval "$(python -m onramp.endpoints --export)"
exec /entrypoint "$@"
