"""Schema-driven fuzzing of the collector's routes (schemathesis against /openapi.json).

Valid and invalid requests, generated from the schema, sent in-process to an app
with a collector: no server error, every refusal a JSON object with its reason, and
nothing half-written in the spool.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from voipwatch.helper.targets import Budget
from voipwatch.store import open_store
from voipwatch.web.app import create_app
from voipwatch.web.guard import allowed_hosts

EXAMPLES = 40


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_collector_routes_never_fail(tmp_path: Path, mode: GenerationMode) -> None:
    with open_store(tmp_path / "store.duckdb"):
        pass
    spool = tmp_path / "spool"
    app = create_app(
        tmp_path / "store.duckdb",
        collector_spool=spool,
        # In-process clients call the server "testserver"; a budget no run exhausts.
        hosts=allowed_hosts(extra=["testserver"]),
        collector_budget=Budget(requests_per_minute=100_000, concurrent_requests=16),
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    sent: list[int] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    collector = [op for op in operations if op.path.startswith("/report")]
    assert {op.path for op in collector} == {
        "/report",
        "/report/{report_id}",
        "/report/{report_id}/close",
    }
    for operation in collector:

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call()
            sent.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (case.method, case.formatted_path, case.body)
            if response.status_code != 200:
                assert isinstance(json.loads(response.content)["error"], str)

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            # A path with only an unconstrained string has no invalid request.
            assert mode is GenerationMode.NEGATIVE
    assert len(sent) >= 2 * EXAMPLES
    assert not list((spool / "tmp").iterdir())
    for p in (spool / "incoming").glob("*"):
        json.loads(p.read_bytes())  # whatever was kept is whole
