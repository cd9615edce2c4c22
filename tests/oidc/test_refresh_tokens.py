"""Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2): rotation, reuse detection, grace window, no races."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from identity_service.oidc.refresh_tokens import hash_refresh_token
from identity_service.storage.models import RefreshToken, utcnow
from tests.harness import Harness


def _tokens(harness: Harness) -> dict[str, str]:
    code, verifier = harness.obtain_code()
    response = harness.exchange(code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    assert body["refresh_token"]
    return body


def _refresh(harness: Harness, token: str, **extra: str) -> httpx.Response:
    return harness.client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra},
                               auth=(harness.client_id, harness.client_secret))


def _userinfo_status(harness: Harness, access_token: str) -> int:
    return harness.client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def _age_use(harness: Harness, token_row_id: str, seconds: int) -> None:
    with Session(harness.engine) as session:
        row = session.get(RefreshToken, token_row_id)
        assert row is not None and row.used_at is not None
        row.used_at = row.used_at - timedelta(seconds=seconds)
        session.add(row)
        session.commit()


def _row_for(harness: Harness, token: str) -> RefreshToken:
    row = harness.services.oauth.refresh_tokens.find(token)
    assert row is not None
    return row


def test_refresh_rotates_the_token_and_keeps_the_scope(harness: Harness) -> None:
    first = _tokens(harness)
    response = _refresh(harness, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    assert _userinfo_status(harness, second["access_token"]) == 200


def test_refresh_tokens_are_stored_only_as_hashes(harness: Harness) -> None:
    token = _tokens(harness)["refresh_token"]
    with Session(harness.engine) as session:
        rows = session.exec(select(RefreshToken).where(RefreshToken.client_id == harness.client_id)).all()
    assert rows and all(token not in (r.token_hash, r.id) for r in rows)


def test_reused_refresh_token_revokes_the_whole_family(harness: Harness) -> None:
    first = _tokens(harness)
    second = _refresh(harness, first["refresh_token"]).json()
    _age_use(harness, _row_for(harness, first["refresh_token"]).id, 3600)  # well past the grace window
    reuse = _refresh(harness, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # Everything in the family is dead: the newest refresh token and the access tokens.
    assert _refresh(harness, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert _userinfo_status(harness, second["access_token"]) == 401
    assert _userinfo_status(harness, first["access_token"]) == 401


def test_same_token_twice_within_the_grace_window_keeps_the_family(harness: Harness) -> None:
    first = _tokens(harness)
    a = _refresh(harness, first["refresh_token"])
    b = _refresh(harness, first["refresh_token"])  # a second tab, moments later
    assert a.status_code == b.status_code == 200
    assert _refresh(harness, a.json()["refresh_token"]).status_code == 200
    assert _refresh(harness, b.json()["refresh_token"]).status_code == 200


def test_on_postgresql_the_usual_rotation_never_leaves_the_event_loop(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/operations.md, "Hot paths": the one-statement rotation runs on asyncpg; the
    blocking statements are only for what it does not claim. SQLite keeps the threadpool path."""
    store = harness.services.oauth.refresh_tokens
    assert store.rotates_on_the_loop == (harness.engine.dialect.name == "postgresql")
    tokens = _tokens(harness)
    if store.rotates_on_the_loop:
        for blocking in ("rotate", "find_for_rotation", "claim", "issue"):
            monkeypatch.setattr(store, blocking, _must_not_run)
    response = _refresh(harness, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    assert _row_for_unpatched(harness, response.json()["refresh_token"]).family_id \
        == _row_for_unpatched(harness, tokens["refresh_token"]).family_id


def _must_not_run(*args: object) -> None:
    raise AssertionError("a blocking statement ran for a usual rotation")


def _row_for_unpatched(harness: Harness, token: str) -> RefreshToken:
    with Session(harness.engine) as session:
        row = session.exec(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))).one()
    return row


def test_concurrent_rotations_do_not_race(harness: Harness) -> None:
    harness.services.oauth.refresh_tokens.grace = 0  # every duplicate counts as reuse
    first = _tokens(harness)
    responses: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def rotate() -> None:
        barrier.wait()
        responses.append(_refresh(harness, first["refresh_token"]))

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The conditional UPDATE lets exactly one request rotate; every other one is reuse.
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1
    assert statuses.count(400) == 7
    with Session(harness.engine) as session:
        family = _row_for(harness, first["refresh_token"]).family_id
        rows = session.exec(select(RefreshToken).where(RefreshToken.family_id == family)).all()
    assert len(rows) == 2
    # The reuse revoked the family, so even the winner's fresh tokens are dead.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert _refresh(harness, winner["refresh_token"]).json()["error"] == "invalid_grant"
    assert _userinfo_status(harness, winner["access_token"]) == 401


def test_refresh_with_a_wider_scope_is_refused_and_does_not_consume_the_token(harness: Harness) -> None:
    first = _tokens(harness)
    wider = _refresh(harness, first["refresh_token"], scope="openid profile phone")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    assert _refresh(harness, first["refresh_token"]).status_code == 200


def test_refresh_token_of_another_client_is_invalid_grant(harness: Harness) -> None:
    from tests.factories import make_client
    from tests.harness import REDIRECT_URI

    first = _tokens(harness)
    other_id, other_secret = make_client(harness.engine, REDIRECT_URI)
    response = harness.client.post("/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": first["refresh_token"]},
                                   auth=(other_id, other_secret))
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert _refresh(harness, first["refresh_token"]).status_code == 200


def test_expired_refresh_token_is_invalid_grant(harness: Harness) -> None:
    first = _tokens(harness)
    with Session(harness.engine) as session:
        row = session.get(RefreshToken, _row_for(harness, first["refresh_token"]).id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    assert _refresh(harness, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_replayed_authorization_code_revokes_the_refresh_family(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    tokens = harness.exchange(code, verifier).json()
    assert harness.exchange(code, verifier).status_code == 400
    assert _refresh(harness, tokens["refresh_token"]).json()["error"] == "invalid_grant"
