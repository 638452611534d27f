"""The collector's OpenAPI 3.1 document, built from the tracking plan's envelope so the two never drift."""

from __future__ import annotations

import copy

from onramp.collector.plan import TrackingPlan

CALLS = ("track", "identify", "page", "screen", "group", "alias")


def _message_schema(envelope: dict, kind: str | None) -> dict:
    schema = copy.deepcopy(envelope)
    for key in ("$schema", "$id", "x-onramp-message", "allOf", "anyOf"):
        schema.pop(key, None)
    schema["additionalProperties"] = True
    required = []
    if kind is None:
        required.append("type")
    else:
        schema["properties"]["type"] = {"const": kind}
    if kind == "track":
        required.append("event")
    if kind == "alias":
        required += ["previousId", "userId"]
    if kind == "group":
        required.append("groupId")
    schema["required"] = required
    if kind != "alias":
        schema["anyOf"] = [{"required": ["userId"]}, {"required": ["anonymousId"]}]
    return schema


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def document(plan: TrackingPlan, max_event_bytes: int, max_request_bytes: int) -> dict:
    """OpenAPI for ``/v1/{track,identify,page,screen,group,alias,batch}``, ``/health`` and ``/metrics``."""
    responses = {
        "200": {"description": "every message is durably in the event stream (or, if it broke the tracking plan, "
                               "in the dead-letter stream, listed under `errors`)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
        "400": _error("malformed request (JSON, gzip, shape), or every message broke the tracking plan "
                      "(they are dead-lettered; reasons in `errors`)"),
        "401": _error("missing or unknown write key"),
        "403": _error("`origin_not_allowed`: a browser call from a page origin the write key does not allow"),
        "413": _error(f"request over {max_request_bytes} bytes or a message over {max_event_bytes} bytes"),
        "415": _error("content type other than application/json or text/plain, or an encoding other than gzip"),
        "429": _error("write key over its rate limit, or the stream backlog is full: retry later"),
        "503": _error("the event store is unreachable: nothing was stored, retry"),
    }
    paths = {}
    for kind in (*CALLS, "batch"):
        body = ({"$ref": "#/components/schemas/Batch"} if kind == "batch"
                else {"$ref": f"#/components/schemas/{kind.capitalize()}"})
        paths[f"/v1/{kind}"] = {"post": {
            "operationId": kind,
            "summary": f"Segment `{kind}` call" if kind != "batch" else "many calls in one request",
            "security": [{"writeKey": []}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": body}, "text/plain": {"schema": body}}},
            "parameters": [{"name": "Content-Encoding", "in": "header", "required": False,
                            "schema": {"enum": ["gzip", "identity"]}}],
            "responses": responses,
        }}
    paths["/v1/m"] = {"post": {
        "operationId": "sdk_metrics", "summary": "analytics.js telemetry: counted in /metrics, never stored",
        "requestBody": {"content": {"text/plain": {"schema": {"type": "object", "required": ["series"]}}}},
        "responses": {"200": {"description": "counted"}, "400": _error("not a {\"series\": [...]} body")},
    }}
    paths["/health"] = {"get": {"operationId": "health", "summary": "liveness and Redis reachability",
                                "responses": {"200": {"description": "ok"}, "503": {"description": "Redis down"}}}}
    paths["/metrics"] = {"get": {"operationId": "metrics", "summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "exposition text"}}}}
    schemas = {kind.capitalize(): _message_schema(plan.envelope, kind) for kind in CALLS}
    schemas["Message"] = _message_schema(plan.envelope, None)
    schemas["Batch"] = {
        "type": "object", "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
            "sentAt": {"type": "string", "format": "date-time"},
            "context": {"type": "object"},
            "writeKey": {"type": "string"},
        },
    }
    schemas["Accepted"] = {
        "type": "object", "required": ["success"],
        "properties": {"success": {"type": "boolean"}, "accepted": {"type": "integer"},
                       "dead_lettered": {"type": "integer"}, "errors": {"type": "array"}},
    }
    schemas["Error"] = {
        "type": "object", "required": ["success", "code", "message"],
        "properties": {"success": {"const": False}, "code": {"type": "string"}, "message": {"type": "string"},
                       "errors": {"type": "array", "items": {"type": "object"}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Onramp event collector", "version": "1",
                 "description": "Segment HTTP Tracking API. Authenticate with the write key as the HTTP Basic "
                                "user name (empty password), or `writeKey` in the body (beacons). analytics.js' "
                                "short paths `/v1/t|p|i|g|a|s|b` are the same calls as `/v1/track|page|identify|"
                                "group|alias|screen|batch`; `/beacon/v1/batch?writeKey=` is RudderStack's beacon. "
                                "Every `/v1/*` path answers CORS preflights; browser calls are accepted only from "
                                "the origins the write key allows. Tracking plan in force: " + plan.version},
        "components": {"securitySchemes": {"writeKey": {"type": "http", "scheme": "basic"}}, "schemas": schemas},
        "paths": paths,
    }
