"""Pages: both languages complete, accessible markup, CSRF on every form, security headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from identity_service.web.csrf import issue_csrf_token, verify_csrf_token
from identity_service.web.i18n import catalog, negotiate_locale, translator
from identity_service.web.templating import TEMPLATES_DIR, make_templates
from tests.harness import Harness
from tests.html_forms import form_posting_to, forms_in

TEMPLATES = sorted(p.name for p in TEMPLATES_DIR.glob("*.html") if p.name != "base.html")
SAMPLE = {
    "req": "r", "client_name": "Bệnh viện", "cccd": "", "error": "Lỗi", "scopes": ["openid", "profile"],
    "account_display": "001******456", "form": {}, "errors": {"cccd": "x"}, "enrollment": "e",
    "phone_masked": "+84*****678", "title": "T", "message": "M", "status_code": 400, "level": 1,
    "params": {"state": "s"},
}


def test_both_catalogs_have_the_same_keys() -> None:
    assert set(catalog("vi")) == set(catalog("en"))


def test_every_key_used_in_templates_and_code_exists_in_both_catalogs() -> None:
    used: set[str] = set()
    for path in list(TEMPLATES_DIR.glob("*.html")) + list(Path("identity_service").rglob("*.py")):
        used |= set(re.findall(r"""\bt\(["']([a-z_0-9.]+)["']\)""", path.read_text(encoding="utf-8")))
    used |= {f"scope.{s}" for s in ("openid", "profile", "phone", "email", "address", "citizen_id")}
    missing = {key for key in used if key not in catalog("vi") or key not in catalog("en")}
    assert missing == set()


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_page_renders_accessibly_without_script(name: str, lang: str) -> None:
    html = make_templates().get_template(name).render(
        t=translator(lang), lang=lang, csrf_token="tok", lang_switch_url_vi="?lang=vi",
        lang_switch_url_en="?lang=en", static_url="/static", **SAMPLE)
    assert f'<html lang="{lang}">' in html
    assert "<script" not in html.lower()
    assert html.count("<h1") == 1
    assert 'name="viewport"' in html
    for input_id in re.findall(r'<input id="([^"]+)"', html):
        assert f'<label for="{input_id}"' in html
    for form in forms_in(html):
        assert form.method == "post"
        assert form.fields.get("csrf_token") == "tok"


def test_locale_negotiation_prefers_explicit_then_cookie_then_header() -> None:
    assert negotiate_locale(None, None, None) == "vi"
    assert negotiate_locale("fr en", "vi", "vi") == "en"
    assert negotiate_locale(None, "en", "vi") == "en"
    assert negotiate_locale(None, None, "fr;q=1, en-GB;q=0.8, vi;q=0.5") == "en"
    assert negotiate_locale(None, "xx", "de") == "vi"


def test_csrf_tokens_are_bound_to_the_browser() -> None:
    token = issue_csrf_token(b"k", "browser-1")
    assert verify_csrf_token(b"k", "browser-1", token)
    assert not verify_csrf_token(b"k", "browser-2", token)
    assert not verify_csrf_token(b"other-key", "browser-1", token)
    assert not verify_csrf_token(b"k", "browser-1", token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_pages_carry_security_headers(harness: Harness) -> None:
    response = harness.client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp and "default-src 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_language_switch_sets_a_cookie_and_translates(harness: Harness) -> None:
    english = harness.client.get("/login?lang=en")
    assert '<html lang="en">' in english.text and "Log in" in english.text
    assert '<html lang="en">' in harness.client.get("/enroll").text  # remembered
    assert '<html lang="vi">' in harness.client.get("/enroll?lang=vi").text


@pytest.mark.parametrize("path", ["/login", "/consent", "/enroll", "/enroll/verify", "/enroll/password",
                                  "/enroll/resend", "/logout"])
def test_form_posts_without_a_valid_csrf_token_are_refused(harness: Harness, path: str) -> None:
    harness.client.get("/login")  # the browser cookie exists; only the token is missing
    response = harness.client.post(path, data={"csrf_token": "forged", "req": "x", "enrollment": "x"})
    assert response.status_code == 403
    assert "<h1" in response.text


def test_wrong_password_shows_one_message_for_unknown_number_and_wrong_password(harness: Harness) -> None:
    page = harness.client.get("/login")
    form = form_posting_to(page.text, "/login")
    wrong_password = harness.client.post("/login", data={**form.fields, "cccd": harness.cccd, "password": "nope"})
    unknown = harness.client.post("/login", data={**form.fields, "cccd": "079190000001", "password": "nope"})
    malformed = harness.client.post("/login", data={**form.fields, "cccd": "abc", "password": "nope"})
    assert wrong_password.status_code == unknown.status_code == malformed.status_code == 401
    message = re.search(r'role="alert"[^>]*>([^<]+)<', wrong_password.text)
    assert message is not None
    assert message.group(1) in unknown.text and message.group(1) in malformed.text


@pytest.mark.parametrize(("cccd", "expected"), [
    ("12345", "error.invalid_cccd.length"),
    ("0011901234ab", "error.invalid_cccd.characters"),
    ("003190123456", "error.invalid_cccd.province"),
    ("079190000001", "error.registry.not_found"),
])
def test_enrollment_page_says_precisely_what_is_wrong(harness: Harness, cccd: str, expected: str) -> None:
    page = harness.client.get("/enroll?lang=en")
    form = form_posting_to(page.text, "/enroll")
    response = harness.client.post("/enroll", data={**form.fields, "cccd": cccd, "full_name": "Lê Văn A",
                                                    "birth_date": "1990-01-01", "phone": "0912345678"})
    assert response.status_code == 400
    assert translator("en")(expected) in response.text.replace("&#39;", "'")


def test_enrollment_page_reports_missing_and_invalid_fields(harness: Harness) -> None:
    page = harness.client.get("/enroll?lang=en")
    form = form_posting_to(page.text, "/enroll")
    response = harness.client.post("/enroll", data={**form.fields, "cccd": "", "full_name": "A",
                                                    "birth_date": "31/12/1990", "phone": "1"})
    assert response.status_code == 400
    assert translator("en")("error.required") in response.text
    assert translator("en")("error.invalid_date") in response.text


def test_oversized_form_fields_get_a_page_not_a_500(harness: Harness) -> None:
    page = harness.client.get("/login")
    form = form_posting_to(page.text, "/login")
    response = harness.client.post("/login", data={**form.fields, "cccd": "1" * 5000, "password": "x"})
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]


def test_every_domain_error_code_has_a_message_in_both_languages() -> None:
    from identity_service.identity import enrollment, otp, sms

    codes = {f"invalid_cccd.{part}" for part in ("length", "characters", "province", "sex_century", "year")}
    codes |= {f"registry.{r}" for r in ("not_found", "details_mismatch", "card_expired", "card_revoked", "deceased")}
    for module in (enrollment, otp, sms):
        for value in vars(module).values():
            defined_here = isinstance(value, type) and value.__module__ == module.__name__
            if defined_here and issubclass(value, Exception) and isinstance(getattr(value, "code", None), str):
                codes.add(value.code)
    codes |= {f"password.{p}" for p in ("too_short", "too_long", "common", "contains_personal_data", "repetitive")}
    missing = {c for c in codes if f"error.{c}" not in catalog("vi") or f"error.{c}" not in catalog("en")}
    assert missing == set()
