"""The in-process client cache: registrations are read from SQL at most once per TTL, changes made
through this process are seen at once, and unknown ids are never cached."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from identity_service.oidc import clients as clients_module
from identity_service.oidc.clients import ClientCache, OAuthClient
from identity_service.storage.models import Client
from tests.factories import make_client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _rename(engine: Engine, client_id: str, name: str) -> None:
    """Change the registration behind the cache's back (as the CLI or another worker would)."""
    with Session(engine) as session:
        row = session.get(Client, client_id)
        assert row is not None
        row.name = name
        session.add(row)
        session.commit()


def test_a_registration_is_served_from_memory_until_its_ttl_ends(engine: Engine) -> None:
    clock = Clock()
    client_id, _ = make_client(engine, "https://rp.example/cb")
    cache = ClientCache(engine, ttl=10, clock=clock)
    assert cache.get(client_id).row.name == "Test RP"  # type: ignore[union-attr]
    _rename(engine, client_id, "Renamed elsewhere")
    clock.now += 9.9
    assert cache.get(client_id).row.name == "Test RP"  # type: ignore[union-attr]  # the documented staleness
    clock.now += 0.2
    assert cache.get(client_id).row.name == "Renamed elsewhere"  # type: ignore[union-attr]


def test_invalidation_makes_a_change_visible_at_once(engine: Engine) -> None:
    client_id, _ = make_client(engine, "https://rp.example/cb")
    cache = ClientCache(engine, ttl=3600, clock=Clock())
    cache.get(client_id)
    _rename(engine, client_id, "Changed through the admin API")
    cache.invalidate(client_id)
    assert cache.get(client_id).row.name == "Changed through the admin API"  # type: ignore[union-attr]


def test_unknown_ids_are_not_cached_so_a_new_client_works_at_once(engine: Engine) -> None:
    cache = ClientCache(engine, ttl=3600, clock=Clock())
    assert cache.get("not-yet-registered") is None
    with Session(engine) as session:
        session.add(Client(client_id="not-yet-registered", name="New RP", redirect_uris=["https://rp.example/cb"],
                           sector_identifier="rp.example"))
        session.commit()
    assert cache.get("not-yet-registered") is not None


def test_the_cache_is_bounded(engine: Engine) -> None:
    ids = [make_client(engine, "https://rp.example/cb")[0] for _ in range(3)]
    cache = ClientCache(engine, ttl=3600, max_entries=2, clock=Clock())
    for client_id in ids:
        cache.get(client_id)
    assert len(cache._entries) == 2 and ids[0] not in cache._entries


def test_ttl_zero_turns_the_cache_off(engine: Engine) -> None:
    client_id, _ = make_client(engine, "https://rp.example/cb")
    cache = ClientCache(engine, ttl=0, clock=Clock())
    cache.get(client_id)
    _rename(engine, client_id, "Seen at once")
    assert cache.get(client_id).row.name == "Seen at once"  # type: ignore[union-attr]


def test_a_read_overtaken_by_an_invalidation_is_not_kept(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token request reads the row, the admin API rotates the secret and invalidates, then the
    request would cache the old row: the rotated-away secret must not live on for the TTL."""
    client_id, _ = make_client(engine, "https://rp.example/cb")
    cache = ClientCache(engine, ttl=10, clock=Clock())
    real_find = clients_module.find_client

    def read_then_rotation_commits(db: Engine, wanted: str) -> OAuthClient | None:
        found = real_find(db, wanted)
        _rename(engine, client_id, "Rotated")
        cache.invalidate(client_id)
        return found

    monkeypatch.setattr(clients_module, "find_client", read_then_rotation_commits)
    assert cache.get(client_id).row.name == "Test RP"  # type: ignore[union-attr]  # this request used its read
    monkeypatch.setattr(clients_module, "find_client", real_find)
    assert cache.get(client_id).row.name == "Rotated"  # type: ignore[union-attr]  # ...but did not keep it
