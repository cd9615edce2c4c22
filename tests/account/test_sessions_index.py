"""The per-account index of browser sessions, on the in-process store and on Redis."""

from __future__ import annotations

import pytest

from identity_service.storage.ephemeral import EphemeralStore
from identity_service.storage.memory_store import MemoryStore
from identity_service.storage.redis_store import RedisStore
from identity_service.web.devices import describe_device
from identity_service.web.sessions import CookieNames, SessionManager
from tests.account.browsers import ANDROID_CHROME, WINDOWS_FIREFOX


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> EphemeralStore:
    if request.param == "memory":
        return MemoryStore()
    return RedisStore.from_url(request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))


@pytest.fixture
def sessions(store: EphemeralStore) -> SessionManager:
    return SessionManager(store, ttl=600, cookies=CookieNames.for_issuer(local_http=True))


def test_sessions_are_listed_under_their_own_account_only(sessions: SessionManager) -> None:
    first = sessions.start("acct-a", "urn:eid:vn:level1", ("pwd",), 1, device=("Chrome", "Android"))
    second = sessions.start("acct-a", "urn:eid:vn:level1", ("pwd",), 1)
    other = sessions.start("acct-b", "urn:eid:vn:level1", ("pwd",), 1)
    assert {s.sid for s in sessions.of_account("acct-a")} == {first.sid, second.sid}
    assert [s.sid for s in sessions.of_account("acct-b")] == [other.sid]
    listed = {s.sid: s for s in sessions.of_account("acct-a")}
    assert listed[first.sid].device == ("Chrome", "Android")
    assert listed[second.sid].device == ("", "")


def test_an_ended_session_leaves_the_index(sessions: SessionManager, store: EphemeralStore) -> None:
    kept = sessions.start("acct-a", "urn:eid:vn:level1", ("pwd",), 1)
    ended = sessions.start("acct-a", "urn:eid:vn:level1", ("pwd",), 1)
    sessions.end(ended.sid)
    assert [s.sid for s in sessions.of_account("acct-a")] == [kept.sid]
    assert sessions.load(ended.sid) is None
    sessions.end(kept.sid)
    assert sessions.of_account("acct-a") == []
    assert store.set_members("account_sessions", "acct-a") == set()


def test_an_expired_session_is_pruned_from_the_index(sessions: SessionManager, store: EphemeralStore) -> None:
    live = sessions.start("acct-a", "urn:eid:vn:level1", ("pwd",), 1)
    gone = sessions.start("acct-a", "urn:eid:vn:level1", ("pwd",), 1)
    store.delete("session", gone.sid)  # what expiry does to the session itself
    assert [s.sid for s in sessions.of_account("acct-a")] == [live.sid]
    assert store.set_members("account_sessions", "acct-a") == {live.sid}


def test_a_session_stored_before_devices_were_recorded_still_loads(sessions: SessionManager,
                                                                   store: EphemeralStore) -> None:
    store.put("session", "old-sid", {"account_id": "acct-a", "auth_time": 1, "acr": "a", "amr": ["pwd"],
                                     "level": 1}, 600)
    loaded = sessions.load("old-sid")
    assert loaded is not None and loaded.device == ("", "")


@pytest.mark.parametrize(("user_agent", "expected"), [
    (ANDROID_CHROME, ("Chrome", "Android")),
    (WINDOWS_FIREFOX, ("Firefox", "Windows")),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", ("Safari", "iOS")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 Edg/126.0.0.0", ("Edge", "Windows")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Safari/605.1.15", ("Safari", "macOS")),
    ("curl/8.5.0", ("", "")),
    (None, ("", "")),
    ("x" * 100_000, ("", "")),
])
def test_the_device_description_is_coarse(user_agent: str | None, expected: tuple[str, str]) -> None:
    assert describe_device(user_agent) == expected
