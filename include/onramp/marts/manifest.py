"""The dbt project's manifest: built ahead by ``dbt parse`` (setup, CI, image build), read by the DAG and the publish step.

Parsing the DAG must never run dbt, so Cosmos loads the graph from ``sql/dbt/target/manifest.json``. The
manifest records a checksum per file; :func:`stale_files` compares them with the files on disk so a model
edited after the last parse is caught (``make setup`` re-parses when the project changed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from onramp.marts.dbt import PROJECT_DIR as DBT_PROJECT

MANIFEST = DBT_PROJECT / "target" / "manifest.json"
PROJECT_NAME = "onramp"


class ManifestError(RuntimeError):
    """The manifest is missing, unreadable, or older than the project; the message says how to rebuild it."""


@dataclass(frozen=True)
class PublishedModel:
    """A model whose ``*_build`` candidate is published to an analyst-facing schema after the gate."""

    name: str
    build_schema: str  # where dbt writes it, e.g. marts_build
    schema: str  # where analysts read it, e.g. marts
    key: tuple[str, ...]  # the grain: unique per row
    incremental: bool  # incremental models publish only rows built since the last publish

    @property
    def suite(self) -> str:
        return f"{self.schema}_{self.name}"

    @property
    def asset_uri(self) -> str:
        return f"warehouse://{self.schema}/{self.name}"


def parse_hint() -> str:
    return f"rebuild it with `make setup` (or `.venv/bin/python -m onramp.marts.manifest`), which runs dbt parse in {DBT_PROJECT}"


@cache
def _load(path: Path, mtime: float) -> dict:  # noqa: ARG001 - the mtime keys the cache
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read the dbt manifest {path}: {exc}; {parse_hint()}") from None


def load(path: Path = MANIFEST) -> dict:
    if not path.is_file():
        raise ManifestError(f"no dbt manifest at {path}; {parse_hint()}")
    return _load(path, path.stat().st_mtime)


def published_models(manifest: dict | None = None) -> list[PublishedModel]:
    """Models whose config carries ``meta.publish`` (``{to: marts, key: [..]}``), by schema and name."""
    manifest = manifest or load()
    models = []
    for node in manifest["nodes"].values():
        if node.get("resource_type") != "model" or node.get("package_name") != PROJECT_NAME:
            continue
        publish = (node.get("config", {}).get("meta") or {}).get("publish") or node.get("meta", {}).get("publish")
        if not publish:
            continue
        key = publish.get("key")
        if not publish.get("to") or not key:
            raise ManifestError(f"model {node['name']}: meta.publish needs 'to' (a schema) and 'key' (its grain columns)")
        models.append(PublishedModel(
            name=node["name"], build_schema=node["schema"], schema=publish["to"],
            key=tuple([key] if isinstance(key, str) else key),
            incremental=node.get("config", {}).get("materialized") == "incremental",
        ))
    return sorted(models, key=lambda m: (m.schema, m.name))


def stale_files(manifest: dict | None = None, project: Path = DBT_PROJECT) -> list[str]:
    """Project files (models, macros, tests) whose content differs from what the manifest was parsed from."""
    manifest = manifest or load()
    stale = []
    seen = set()
    for section in ("nodes", "macros"):
        for node in manifest.get(section, {}).values():
            if node.get("package_name") != PROJECT_NAME or not node.get("original_file_path"):
                continue
            rel = node["original_file_path"]
            checksum = (node.get("checksum") or {}).get("checksum")
            if rel in seen or not checksum or not rel.endswith(".sql"):
                continue
            seen.add(rel)
            path = project / rel
            if not path.is_file():
                stale.append(f"{rel} (deleted)")
            elif hashlib.sha256(path.read_text(encoding="utf-8").strip().encode()).hexdigest() != checksum:
                stale.append(rel)
    on_disk = {str(p.relative_to(project)) for p in (project / "models").rglob("*.sql")}
    stale += sorted(f"{rel} (new)" for rel in on_disk - seen)
    return sorted(stale)


def parse(target: Path = MANIFEST.parent) -> Path:
    """Run ``dbt parse`` (no database connection is opened) and return the manifest's path."""
    from onramp.marts.dbt import run_dbt

    run_dbt(["parse", "--no-partial-parse"], quiet=True, target=target)
    return target / "manifest.json"


if __name__ == "__main__":
    print(f"dbt manifest written to {parse()}")
