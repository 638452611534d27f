"""The tracking plan: versioned JSON Schemas in ``tracking_plan/``, compiled once, checked per event.

``envelope/vN.json`` is what every message carries; ``events/<event>/vN.json`` adds what one track
event's properties must hold. The highest version of each file is the one in force. A message that
breaks the plan is dead-lettered with machine-readable reasons (JSON path + message), never dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs

from onramp.events.payload import cut_depth
from onramp.events.reasons import Reason
from onramp.settings import PROJECT_ROOT

PLAN_DIR = PROJECT_ROOT / "tracking_plan"
UNKNOWN_POLICIES = ("dead_letter", "accept")
_VERSION_RE = re.compile(r"^v(\d+)\.json$")
_EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
MAX_REASONS = 20
MAX_MESSAGE = 300


class PlanError(ValueError):
    """The tracking plan on disk is malformed; the message names the file."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    schema_version: str  # e.g. "signup_started/v1" or "envelope/v1" for non-track calls
    planned: bool
    reasons: tuple[Reason, ...] = ()


def _latest(folder: Path) -> tuple[int, Path]:
    versions = []
    for path in folder.glob("v*.json"):
        match = _VERSION_RE.match(path.name)
        if not match:
            raise PlanError(f"{path}: name schema versions v<N>.json")
        versions.append((int(match.group(1)), path))
    if not versions:
        raise PlanError(f"{folder} holds no v<N>.json schema")
    return max(versions)


def _load(path: Path) -> dict:
    try:
        schema = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise PlanError(f"{path} must hold a JSON Schema object")
    return schema


def _json_path(parts: list) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


class TrackingPlan:
    """Compiled validators for the envelope and every planned event."""

    def __init__(self, directory: Path = PLAN_DIR, unknown_events: str = "dead_letter"):
        if unknown_events not in UNKNOWN_POLICIES:
            raise PlanError(f"unknown-event policy {unknown_events!r} must be one of {UNKNOWN_POLICIES}")
        self.directory = Path(directory)
        self.unknown_events = unknown_events
        envelope_version, envelope_path = _latest(self.directory / "envelope")
        self.envelope_version = f"envelope/v{envelope_version}"
        self.envelope = _load(envelope_path)
        self._envelope_validator = self._compile(self.envelope, envelope_path)
        self.events: dict[str, tuple[str, dict, Any]] = {}
        events_dir = self.directory / "events"
        for folder in sorted(p for p in events_dir.iterdir() if p.is_dir()) if events_dir.is_dir() else []:
            if not _EVENT_NAME_RE.match(folder.name):
                raise PlanError(f"{folder}: event names are snake_case (lowercase letters, digits, _)")
            version, path = _latest(folder)
            combined = {"allOf": [self.envelope, _load(path)]}
            self.events[folder.name] = (f"{folder.name}/v{version}", combined, self._compile(combined, path))
        # verdicts are immutable: the passing ones are built once, not per message
        self._passed = {version: Verdict(True, version, True) for version, _, _ in self.events.values()}
        self._passed[self.envelope_version] = Verdict(True, self.envelope_version, True)
        self._passed_unplanned = Verdict(True, self.envelope_version, False)

    @staticmethod
    def _compile(schema: dict, path: Path):
        try:
            return jsonschema_rs.validator_for(schema, validate_formats=True)
        except (ValueError, jsonschema_rs.ValidationError) as exc:
            raise PlanError(f"{path} is not a valid JSON Schema: {exc}") from None

    @property
    def version(self) -> str:
        """One string naming every schema in force, for reports."""
        return ",".join([self.envelope_version, *(v[0] for v in self.events.values())])

    def schema_version(self, message: dict) -> str:
        event = message.get("event")
        if message.get("type") == "track" and isinstance(event, str) and event in self.events:
            return self.events[event][0]
        return self.envelope_version

    def check(self, message: dict) -> Verdict:
        """Validate one message as sent (before enrichment); never raises for bad data."""
        event = message.get("event") if message.get("type") == "track" else None
        planned_entry = self.events.get(event) if isinstance(event, str) else None
        if planned_entry is not None:
            version, schema, validator = planned_entry
        else:
            version, schema, validator = self.envelope_version, self.envelope, self._envelope_validator
        if validator.is_valid(message):
            if event is not None and planned_entry is None:
                if self.unknown_events == "accept":
                    return self._passed_unplanned
                return Verdict(False, version, False, (Reason(
                    "unknown_event", "$.event",
                    f"event {event!r} is not in the tracking plan; add tracking_plan/events/{_safe(event)}/v1.json "
                    "or set ONRAMP_COLLECTOR_UNKNOWN_EVENTS=accept"),))
            return self._passed[version]
        return Verdict(False, version, planned_entry is not None or event is None, self._reasons(schema, validator, message))

    def _reasons(self, schema: dict, validator, message: dict) -> tuple[Reason, ...]:
        try:
            return self._collect_reasons(schema, validator, message)
        except ValueError:  # jsonschema_rs hands a failing value back to Python only ~254 levels deep
            return self._collect_reasons(schema, validator, cut_depth(message))

    def _collect_reasons(self, schema: dict, validator, message: dict) -> tuple[Reason, ...]:
        reasons: list[Reason] = []
        for error in validator.iter_errors(message):
            keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
            custom = _custom_message(schema, list(error.schema_path))
            if custom is None and keyword == "enum":
                allowed = _node(schema, list(error.schema_path))
                if isinstance(allowed, list):
                    custom = f"{json.dumps(error.instance)} is not one of {json.dumps(allowed)}"
            text = custom or error.message
            if len(text) > MAX_MESSAGE:
                text = text[: MAX_MESSAGE - 1] + "…"
            reason = Reason(f"schema.{keyword}", _json_path(list(error.instance_path)), text)
            if reason not in reasons:  # the envelope and an event schema may say the same thing
                reasons.append(reason)
            if len(reasons) >= MAX_REASONS:
                break
        if not reasons:  # is_valid and iter_errors disagree only on a validator bug; still explain
            reasons.append(Reason("schema", "$", "message does not match the tracking plan"))
        return tuple(reasons)


def _safe(name: str) -> str:
    return name if _EVENT_NAME_RE.match(name) else "<snake_case_name>"


def _node(schema: dict, path: list) -> Any:
    node: Any = schema
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _custom_message(schema: dict, schema_path: list) -> str | None:
    """An ``x-onramp-message`` annotation next to the failing keyword, if the plan gives one."""
    if not schema_path:
        return None
    node = _node(schema, schema_path[:-1])
    if isinstance(node, dict):
        messages = node.get("x-onramp-message")
        if isinstance(messages, dict):
            return messages.get(str(schema_path[-1]))
    return None
