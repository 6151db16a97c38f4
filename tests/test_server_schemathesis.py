"""Property-based testing of the whole API from its OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid, as the tenant's owner, on both
databases; the checks are that no answer is a server error and that every answer matches the
documented schema. The example count stays small so that the suite stays fast.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from server_support import build_world

from parloir.server.app import create_app

EXAMPLES = 6

# The document does not depend on the database: load it once from an app with no store.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(None))  # type: ignore[arg-type]


@pytest.fixture
def served(store):
    return create_app(store), build_world(store)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_errs_and_keeps_its_schema(case, served):
    app, world = served
    case.call_and_validate(
        app=app,
        headers=world.headers["owner"],
        checks=[not_a_server_error, response_schema_conformance],
    )
