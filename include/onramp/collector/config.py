"""Collector configuration, built from :mod:`onramp.settings` (``ONRAMP_COLLECTOR_*``); the stream loader's is
:mod:`onramp.stream.config`.

Write keys are secrets: set ``ONRAMP_COLLECTOR_WRITE_KEYS`` (``key=source,key2=source2``) or point
``ONRAMP_COLLECTOR_WRITE_KEYS_FILE`` at a YAML mapping ``{write_key: source_name}``. Without either,
only the demo key :data:`DEMO_WRITE_KEY` is accepted, which is fine on a laptop and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onramp.settings import Settings, SettingsError, get_settings

DEMO_WRITE_KEY = "onramp-demo-write-key"  # public, for local demos only; never accepted when keys are configured


def parse_write_keys(text: str) -> dict[str, str]:
    """``key=source,key2=source2`` (a bare ``key`` names its source ``default``)."""
    keys = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, source = item.partition("=")
        keys[key.strip()] = source.strip() or "default"
    return keys


def _masked(key: str) -> str:
    """A write key as it may appear in an error message (keys are secrets)."""
    return key[:4] + "..." if len(key) > 8 else "..."


def _origins(values, where: str) -> tuple[str, ...]:
    """Validated allowed-origin patterns; ``where`` names the setting or file entry in the error."""
    from onramp.collector.cors import OriginPatternError, parse_pattern

    if isinstance(values, str):
        values = [v for v in values.replace(" ", ",").split(",") if v.strip()]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SettingsError(f"{where}: allowed_origins must be a list of origins, e.g. [https://app.example.com]")
    problems = []
    for value in values:
        try:
            parse_pattern(value)
        except OriginPatternError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingsError(f"{where}: " + "; ".join(problems))
    return tuple(v.strip() for v in values)


def read_write_keys(settings: Settings) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(write key -> source, write key -> origins its browser calls may come from).

    The keys file maps a key to its source name, or to ``{source: ..., allowed_origins: [...]}``. Keys that
    list no origins get ``ONRAMP_COLLECTOR_ALLOWED_ORIGINS`` (default: none, so browsers are refused and
    server SDKs, which send no ``Origin``, are not affected). The demo key accepts every origin.
    """
    keys: dict[str, str] = {}
    origins: dict[str, tuple[str, ...]] = {}
    path = settings.collector_write_keys_file
    if path:
        import yaml

        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"ONRAMP_COLLECTOR_WRITE_KEYS_FILE={path}: cannot read it ({exc})") from None
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path} must be a YAML mapping of write key -> source name "
                                "(or -> {source: name, allowed_origins: [...]})")
        for key, entry in loaded.items():
            key = str(key)
            if isinstance(entry, dict):
                unknown = set(entry) - {"source", "allowed_origins"}
                if unknown or not isinstance(entry.get("source"), str) or not entry["source"]:
                    raise SettingsError(f"{path}: the entry of key {_masked(key)} needs a 'source' name and may "
                                        f"have 'allowed_origins'" + (f" (unknown: {sorted(unknown)})" if unknown else ""))
                keys[key] = entry["source"]
                if "allowed_origins" in entry:
                    origins[key] = _origins(entry["allowed_origins"] or [],
                                            f"{path}, key {_masked(key)} (source {entry['source']})")
            else:
                keys[key] = str(entry)
    keys.update(parse_write_keys(settings.collector_write_keys))
    if not keys:
        return {DEMO_WRITE_KEY: "demo"}, {DEMO_WRITE_KEY: ("*",)}
    default = _origins(settings.collector_allowed_origins, "ONRAMP_COLLECTOR_ALLOWED_ORIGINS")
    return keys, {key: origins.get(key, default) for key in keys}


def load_write_keys(settings: Settings) -> dict[str, str]:
    """Write key -> source name."""
    return read_write_keys(settings)[0]


@dataclass(frozen=True)
class CollectorConfig:
    """Everything the collector is tuned with."""

    redis_url: str
    redis_prefix: str
    write_keys: dict[str, str] = field(default_factory=lambda: {DEMO_WRITE_KEY: "demo"})
    # write key -> origins its browser calls may come from ("*": any); a key missing here: none
    allowed_origins: dict[str, tuple[str, ...]] = field(default_factory=lambda: {DEMO_WRITE_KEY: ("*",)})
    host: str = "127.0.0.1"
    port: int = 8090
    workers: int = 1
    unknown_events: str = "dead_letter"
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 500 * 1024
    geo_db: str = ""
    trust_forwarded_for: bool = False
    rate_limit_events_per_s: int = 0  # per write key and worker; 0 = no limit
    max_backlog: int = 2_000_000  # stream entries waiting for the loader before the collector answers 429
    redis_timeout_s: float = 2.0
    plan_dir: str = ""

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> CollectorConfig:
        s = settings or get_settings()
        write_keys, allowed_origins = read_write_keys(s)
        return cls(
            redis_url=s.redis_url,
            redis_prefix=s.redis_prefix,
            write_keys=write_keys,
            allowed_origins=allowed_origins,
            host=s.collector_host,
            port=s.collector_port,
            workers=s.collector_workers,
            unknown_events=s.collector_unknown_events,
            geo_db=s.collector_geo_db,
            trust_forwarded_for=s.collector_trust_forwarded_for,
            rate_limit_events_per_s=s.collector_rate_limit,
            max_backlog=s.collector_max_backlog,
            plan_dir=s.tracking_plan_dir,
        )
