"""response_mode=form_post, id_token_hint and login_hint (OIDC Core §3.1.2.1, OAuth 2.0 Form Post)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from tests.harness import REDIRECT_URI, Harness, pkce_pair
from tests.html_forms import forms_in


def test_form_post_delivers_the_code_in_an_auto_posting_form(harness: Harness) -> None:
    harness.obtain_code()  # a session and consent exist now
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(response_mode="form_post")),
                                  follow_redirects=False)
    assert response.status_code == 200
    [form] = forms_in(response.text)
    assert form.action == REDIRECT_URI and form.method == "post"
    assert form.fields["code"] and form.fields["state"] == "st-1" and form.fields["iss"] == "http://localhost:8000"
    csp = response.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp and "form-action https://rp.example" in csp
    assert "unsafe-inline" not in csp


def test_form_post_errors_are_posted_too(harness: Harness) -> None:
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(response_mode="form_post",
                                                                                     prompt="none")),
                                  follow_redirects=False)
    [form] = forms_in(response.text)
    assert form.fields["error"] == "login_required"


def test_unknown_response_mode_is_invalid_request(harness: Harness) -> None:
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(response_mode="fragment")),
                                  follow_redirects=False)
    assert "error=invalid_request" in response.headers["location"]


def test_id_token_hint_for_the_current_user_allows_prompt_none(harness: Harness) -> None:
    code, verifier = harness.obtain_code()
    id_token = harness.exchange(code, verifier).json()["id_token"]
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(prompt="none",
                                                                                     id_token_hint=id_token)),
                                  follow_redirects=False)
    assert "code=" in response.headers["location"]


def test_id_token_hint_for_someone_else_requires_login(harness: Harness) -> None:
    harness.obtain_code()
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(prompt="none",
                                                                                     id_token_hint="a.b.c")),
                                  follow_redirects=False)
    assert "error=login_required" in response.headers["location"]


def test_login_hint_prefills_the_number(harness: Harness) -> None:
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(login_hint="001190000001")))
    assert 'value="001190000001"' in response.text


def test_claims_parameter_adds_the_scope_that_releases_a_claim(harness: Harness) -> None:
    verifier, challenge = pkce_pair()
    claims = json.dumps({"userinfo": {"citizen_id": {"essential": True}}, "id_token": {"name": None}})
    code, _ = harness.obtain_code((verifier, challenge), claims=claims, scope="openid")
    tokens = harness.exchange(code, verifier).json()
    assert set(tokens["scope"].split()) == {"openid", "profile", "citizen_id"}
    userinfo = harness.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert userinfo["citizen_id"] == harness.cccd and userinfo["name"]


def test_claims_parameter_never_exceeds_what_the_client_may_receive(harness: Harness) -> None:
    verifier, challenge = pkce_pair()
    claims = json.dumps({"userinfo": {"address": None}})  # the test client is not allowed "address"
    code, _ = harness.obtain_code((verifier, challenge), claims=claims)
    assert "address" not in harness.exchange(code, verifier).json()["scope"].split()


def test_malformed_claims_parameter_is_invalid_request(harness: Harness) -> None:
    for raw in ["not json", "[]", '{"other": {}}', '{"userinfo": []}']:
        response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(claims=raw)),
                                      follow_redirects=False)
        assert "error=invalid_request" in response.headers["location"], raw


def test_essential_acr_that_cannot_be_met_is_refused(harness: Harness) -> None:
    claims = '{"id_token": {"acr": {"essential": true, "values": ["urn:other:loa4"]}}}'
    response = harness.client.get("/authorize?" + urlencode(harness.authorize_params(claims=claims)),
                                  follow_redirects=False)
    assert "error=unmet_authentication_requirements" in response.headers["location"]
