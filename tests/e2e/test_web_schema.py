"""Schema-driven fuzzing of the API (schemathesis against /openapi.json): no server error.

Bounded: :data:`EXAMPLES` generated requests per operation and mode (valid and
invalid input), a few hundred in all, sent to the app in this process.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

EXAMPLES = 15


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error(app: FastAPI, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    sent: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

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
            sent.append(case.path)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (case.method, case.formatted_path, case.query)

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            # No invalid request exists for an operation without parameters.
            assert mode is GenerationMode.NEGATIVE
    assert len(sent) >= 10 * EXAMPLES
