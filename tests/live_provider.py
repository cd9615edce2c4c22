"""A running provider (real uvicorn socket) on the embedded defaults and on PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from identity_service.app import create_app
from identity_service.config import Settings
from identity_service.services import Services, build_services
from identity_service.storage.ephemeral import make_store
from tests.live_server import free_port, serve_in_thread


@dataclass
class Provider:
    base_url: str
    settings: Settings
    services: Services
    engine: Engine

    @property
    def outbox(self) -> Path:
        return self.settings.data_dir / "sms_outbox.jsonl"


def _settings(tmp_path: Path, port: int) -> Settings:
    return Settings(
        issuer=f"http://127.0.0.1:{port}",
        data_dir=tmp_path / "data",
        keys_dir=tmp_path / "keys",
        seed_demo=False,
        argon2_memory_kib=1024,
        argon2_time_cost=1,
    )


@pytest.fixture(params=["embedded", "postgresql+redis"])
def provider(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_engine: Engine, redis_url: str
) -> Iterator[Provider]:
    port = free_port()
    settings = _settings(tmp_path, port)
    if request.param == "embedded":
        engine = sqlite_engine
        store = make_store(None, "")
    else:
        engine = request.getfixturevalue("pg_engine")
        store = make_store(redis_url, request.getfixturevalue("redis_prefix"))
    services = build_services(settings, engine=engine, store=store)
    app = create_app(settings, services)
    with serve_in_thread(app, port) as base_url:
        yield Provider(base_url=base_url, settings=settings, services=services, engine=engine)
