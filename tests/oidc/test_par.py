"""Pushed authorization requests (RFC 9126)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.factories import make_client
from tests.harness import REDIRECT_URI, Harness, pkce_pair
from tests.html_forms import form_posting_to


def _push(harness: Harness, auth: tuple[str, str] | None = None, **overrides: str) -> httpx.Response:
    params = harness.authorize_params(**overrides)
    return harness.client.post("/par", data=params, auth=auth or (harness.client_id, harness.client_secret))


def test_pushed_request_returns_a_one_time_request_uri(harness: Harness) -> None:
    response = _push(harness)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < body["expires_in"] <= 600
    assert response.headers["cache-control"] == "no-store"


def test_authorization_with_a_request_uri_completes_and_is_single_use(harness: Harness) -> None:
    verifier, challenge = pkce_pair()
    request_uri = _push(harness, code_challenge=challenge).json()["request_uri"]
    query = urlencode({"client_id": harness.client_id, "request_uri": request_uri})
    harness.login()
    response = harness.client.get(f"/authorize?{query}", follow_redirects=False)
    location = response.headers["location"]
    assert location.startswith("/consent")
    page = harness.client.get(location)
    form = form_posting_to(page.text, "/consent")
    callback = harness.client.post("/consent", data={**form.fields, "decision": "allow"}, follow_redirects=False)
    params = parse_qs(urlsplit(callback.headers["location"]).query)
    assert params["state"] == ["st-1"]
    assert harness.exchange(params["code"][0], verifier).status_code == 200
    again = harness.client.get(f"/authorize?{query}", follow_redirects=False)
    assert again.status_code == 400 and "location" not in again.headers


def test_request_uri_of_another_client_is_refused(harness: Harness) -> None:
    request_uri = _push(harness).json()["request_uri"]
    other_id, _ = make_client(harness.engine, REDIRECT_URI)
    query = urlencode({"client_id": other_id, "request_uri": request_uri})
    response = harness.client.get(f"/authorize?{query}", follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers


def test_push_requires_client_authentication(harness: Harness) -> None:
    response = _push(harness, auth=(harness.client_id, "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_invalid_pushed_parameters_are_refused_at_push_time(harness: Harness) -> None:
    bad_redirect = _push(harness, redirect_uri="https://evil.example/cb")
    assert bad_redirect.status_code == 400 and bad_redirect.json()["error"] == "invalid_request"
    no_pkce = harness.client.post("/par", data={k: v for k, v in harness.authorize_params().items()
                                                if not k.startswith("code_challenge")},
                                  auth=(harness.client_id, harness.client_secret))
    assert no_pkce.status_code == 400
    assert _push(harness, request_uri="urn:x").status_code == 400


def test_client_that_requires_par_cannot_use_a_plain_request(harness: Harness) -> None:
    harness.update_client(require_par=True)
    harness.services.oauth.clients.invalidate(harness.client_id)  # as the admin API does
    plain = harness.client.get("/authorize?" + urlencode(harness.authorize_params()), follow_redirects=False)
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    request_uri = _push(harness).json()["request_uri"]
    pushed = harness.client.get("/authorize?" + urlencode({"client_id": harness.client_id,
                                                           "request_uri": request_uri}), follow_redirects=False)
    assert pushed.headers["location"].startswith("/login")


def test_request_objects_are_not_supported(harness: Harness) -> None:
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(request="eyJ...")),
                                  follow_redirects=False)
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["request_not_supported"]
