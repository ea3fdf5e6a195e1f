"""The API's document (``/openapi.json``) types every answer, and real answers match it.

A route whose success answer has no schema, or a field typed as nothing at all,
fails the first test; the second sends one request of each kind to the test store
and checks its JSON against the document, so the document cannot drift from what
the routes send.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

#: Keys that give a JSON schema a type (a bare ``{}`` or ``{"type": "object"}``
#: without fields says nothing).
TYPED = ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")


def _document(client: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/openapi.json").json()
    return doc


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def _success(operation: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    code = next(c for c in operation["responses"] if c.startswith("2"))
    content = operation["responses"][code].get("content", {})
    return code, content.get("application/json", {}).get("schema")


def _untyped(doc: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """The places under an object schema whose fields are typed as nothing."""
    found = []
    for name, field in schema.get("properties", {}).items():
        if not any(k in field for k in TYPED):
            found.append(f"{where}.{name}")
            continue
        target = _resolve(doc, field)
        if target.get("type") == "object" and not (
            target.get("properties") or target.get("additionalProperties")
        ):
            found.append(f"{where}.{name}")
    return found


def _reachable(doc: dict[str, Any], schemas: list[Any]) -> set[str]:
    """The names of the component schemas the success answers refer to, at any depth."""
    seen: set[str] = set()
    todo = list(schemas)
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.removeprefix("#/components/schemas/")
                if name not in seen:
                    seen.add(name)
                    todo.append(doc["components"]["schemas"][name])
            todo.extend(v for k, v in node.items() if k != "$ref")
    return seen


def test_every_api_route_declares_a_typed_answer(client: TestClient) -> None:
    doc = _document(client)
    routes = [
        (path, method, op)
        for path, item in doc["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in item.items()
    ]
    assert len(routes) >= 12
    problems = []
    for path, method, op in routes:
        code, schema = _success(op)
        if schema is None:
            problems.append(f"{method.upper()} {path} {code}: no JSON schema")
            continue
        top = _resolve(doc, schema)
        if top.get("type") != "object" or not top.get("properties"):
            problems.append(f"{method.upper()} {path} {code}: not an object with fields")
    for name in sorted(_reachable(doc, [_success(op)[1] or {} for _, _, op in routes])):
        problems += _untyped(doc, doc["components"]["schemas"][name], name)
    assert problems == []


def test_the_answers_of_the_records_name_their_fields(client: TestClient) -> None:
    doc = _document(client)
    event = _resolve(doc, _success(doc["paths"]["/api/v1/events/{event_id}"]["get"])[1] or {})
    assert {"event_id", "kind", "start", "end", "corroboration"} <= set(event["properties"])
    assert event["properties"]["kind"]["enum"]
    cost = _resolve(doc, _success(doc["paths"]["/api/v1/cost"]["get"])[1] or {})
    assert cost["properties"]["central"]["type"] == "number"
    context = _resolve(doc, _success(doc["paths"]["/api/v1/context/{cc}"]["get"])[1] or {})
    assert "regulator" in context["properties"]
    assert "country" in context["required"]


def _check(client: TestClient, doc: dict[str, Any], path: str, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:300])
    schema = _success(doc["paths"][path]["get"])[1]
    assert schema is not None
    body: dict[str, Any] = response.json()
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(body)
    ]
    assert errors == [], url
    return body


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("/api/v1/health", "/api/v1/health"),
        ("/api/v1/aggregation", "/api/v1/aggregation"),
        ("/api/v1/aggregation", "/api/v1/aggregation?axis_x=measurement_start_day&probe_cc=IR"),
        ("/api/v1/aggregation", "/api/v1/aggregation?axis_x=role&axis_y=probe_asn"),
        ("/api/v1/measurements", "/api/v1/measurements?limit=50"),
        ("/api/v1/current", "/api/v1/current"),
        ("/api/v1/events", "/api/v1/events"),
        ("/api/v1/events/{event_id}", "/api/v1/events/e1r4n0wh4tsapp"),
        ("/api/v1/cases", "/api/v1/cases"),
        ("/api/v1/cost", "/api/v1/cost?event_id=e1r4n0wh4tsapp"),
        ("/api/v1/cost", "/api/v1/cost?probe_cc=IR&app=signal&start=2024-01-01&hours=48"),
        ("/api/v1/context/{cc}", "/api/v1/context/IR"),
    ],
)
def test_an_answer_matches_the_document(client: TestClient, path: str, url: str) -> None:
    _check(client, _document(client), path, url)


def test_every_measurement_event_and_case_matches_the_document(client: TestClient) -> None:
    doc = _document(client)
    page = _check(client, doc, "/api/v1/measurements", "/api/v1/measurements?limit=40")
    for row in page["results"]:
        uid = row["measurement_uid"]
        _check(client, doc, "/api/v1/measurements/{measurement_uid}", f"/api/v1/measurements/{uid}")
    events = _check(client, doc, "/api/v1/events", "/api/v1/events")["results"]
    assert events
    for e in events:
        _check(client, doc, "/api/v1/events/{event_id}", f"/api/v1/events/{e['event_id']}")
    cases = _check(client, doc, "/api/v1/cases", "/api/v1/cases")["results"]
    assert cases
    for c in cases:
        _check(client, doc, "/api/v1/cases/{case_id}", f"/api/v1/cases/{c['case_id']}")
