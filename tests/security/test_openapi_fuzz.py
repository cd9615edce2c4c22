"""schemathesis against the provider's own OpenAPI: no generated request may produce a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from identity_service.app import create_app
from identity_service.config import Settings
from identity_service.storage.migrations import upgrade_database

_DIR = Path(tempfile.mkdtemp(prefix="ids-fuzz-"))
_SETTINGS = Settings(issuer="http://localhost:8000", data_dir=_DIR, keys_dir=_DIR / "keys", seed_demo=False,
                     database_url=f"sqlite:///{_DIR / 'fuzz.db'}", argon2_memory_kib=1024, argon2_time_cost=1)
upgrade_database(_SETTINGS.resolved_database_url)
APP = create_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_causes_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}"
