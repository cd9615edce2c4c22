"""The page layer's building blocks: catalogs, templates, CSRF tokens, security headers, locale choice."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.templating import Jinja2Templates
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from identity_service.web.csrf import issue_csrf_token, verify_csrf_token
from identity_service.web.i18n import SUPPORTED, catalog, negotiate_locale, translator
from identity_service.web.security_headers import SecurityHeadersMiddleware
from identity_service.web.templating import TEMPLATES_DIR, make_templates

SCOPES = ("openid", "profile", "phone", "email", "address", "citizen_id")
LEVELS = (1, 2)

REQUIRED_ERROR_KEYS = (
    "error.invalid_cccd.length", "error.invalid_cccd.characters", "error.invalid_cccd.province",
    "error.invalid_cccd.sex_century", "error.invalid_cccd.year", "error.registry.not_found",
    "error.registry.details_mismatch", "error.registry.card_expired", "error.registry.card_revoked",
    "error.registry.deceased", "error.already_enrolled", "error.invalid_phone", "error.invalid_date",
    "error.required", "error.otp.invalid", "error.otp.expired", "error.otp.too_many_attempts",
    "error.otp.resend_too_soon", "error.enrollment.not_found", "error.password.too_short",
    "error.password.too_long", "error.password.common", "error.password.contains_personal_data",
    "error.password.repetitive", "error.password.mismatch", "error.login.invalid_credentials",
    "error.login.locked", "error.csrf", "error.request_expired", "error.invalid_request",
    "error.server_unavailable", "error.redirect_uri", "error.unknown_client", "error.access_denied",
)

# The contract with the routes: what each page receives besides the common context.
PAGES: dict[str, dict[str, Any]] = {
    "login.html": {"req": "req-1", "client_name": "Bệnh viện Bạch Mai", "cccd": "001190123456",
                   "error": "Số định danh hoặc mật khẩu không đúng."},
    "consent.html": {"req": "req-1", "client_name": "Bệnh viện Bạch Mai", "scopes": list(SCOPES),
                     "account_display": "001******456"},
    "enroll_start.html": {
        "form": {"cccd": "001190123456", "full_name": "Nguyễn Thị Ánh", "birth_date": "1990-05-17",
                 "phone": "0912345678"},
        "errors": {"cccd": "bad cccd", "full_name": "bad name", "birth_date": "bad date", "phone": "bad phone",
                   "form": "general problem"},
    },
    "enroll_verify.html": {"enrollment": "enr-1", "phone_masked": "091****678", "error": "wrong code"},
    "enroll_password.html": {"enrollment": "enr-1", "errors": ["too short", "mismatch"]},
    "enroll_done.html": {},
    "error.html": {"title": "Không thể tiếp tục", "message": "Yêu cầu không hợp lệ.", "status_code": 400},
    "account.html": {"account_display": "001******456", "level": 1, "full_name": "Nguyễn Thị Ánh",
                     "birth_date": "1990-05-17", "phone_masked": "+84******678", "level_verified_at": None,
                     "notice": "password_changed"},
    "account_sessions.html": {"sessions": [
        {"handle": "h1", "started": "2025-03-09 14:05", "browser": "Chrome", "os": "Android", "current": True},
        {"handle": "h2", "started": "2025-03-08 09:00", "browser": "", "os": "", "current": False}],
        "notice": "session_ended"},
    "account_services.html": {"connected": [{"client_id": "hospital", "name": "Bệnh viện Bạch Mai",
                                             "scopes": list(SCOPES), "granted": "2025-03-09 14:05"}],
                              "notice": "consent_withdrawn"},
    "account_withdraw.html": {"client_id": "hospital", "name": "Bệnh viện Bạch Mai", "scopes": list(SCOPES)},
    "account_history.html": {"entries": [
        {"at": "2025-03-09 14:05", "event": "authorization.code_issued", "service": "Bệnh viện Bạch Mai",
         "scopes": ["openid"], "claims": ["sub", "citizen_id"]},
        {"at": "2025-03-09 14:04", "event": "consent.granted", "service": "Bệnh viện Bạch Mai",
         "scopes": ["openid", "citizen_id"], "claims": []}], "older": "1.2", "newer": "3.4"},
    "account_password.html": {"errors": ["Mật khẩu hiện tại không đúng."]},
    "account_lock.html": {},
    "account_locked.html": {},
}

# The same pages on a first visit: nothing filled in, no errors.
FIRST_VISIT: dict[str, dict[str, Any]] = {
    **PAGES,
    "login.html": {"req": "req-1", "client_name": None, "cccd": "", "error": None},
    "enroll_start.html": {"form": {}, "errors": {}},
    "enroll_verify.html": {"enrollment": "enr-1", "phone_masked": "091****678", "error": None},
    "enroll_password.html": {"enrollment": "enr-1", "errors": []},
    "error.html": {"title": "T", "message": "M"},
    "account.html": {"account_display": "001******456", "level": 2},
    "account_sessions.html": {"sessions": []},
    "account_services.html": {"connected": []},
    "account_history.html": {"entries": [], "older": None, "newer": None},
    "account_password.html": {"errors": []},
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    form_index: int | None


@dataclass
class Page:
    """The elements of a rendered page, in document order, and which form each belongs to."""

    html: str
    elements: list[Element] = field(default_factory=list)
    forms: list[Element] = field(default_factory=list)

    def all(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.elements
                if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def one(self, tag: str, **attrs: str) -> Element:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    def fields_of(self, form_index: int) -> dict[str, str]:
        return {e.attrs["name"]: e.attrs.get("value", "") for e in self.elements
                if e.tag == "input" and e.form_index == form_index and "name" in e.attrs}

    def ids(self) -> set[str]:
        return {e.attrs["id"] for e in self.elements if "id" in e.attrs}


class _PageParser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        self.form_index: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.form_index)
        if tag == "form":
            self.form_index = len(self.page.forms)
            element.form_index = self.form_index
            self.page.forms.append(element)
        self.page.elements.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form_index = None


def parse(html: str) -> Page:
    page = Page(html)
    _PageParser(page).feed(html)
    return page


@pytest.fixture(scope="module")
def templates() -> Jinja2Templates:
    return make_templates()


def render(templates: Jinja2Templates, name: str, lang: str, context: dict[str, Any]) -> Page:
    common = {"t": translator(lang), "lang": lang, "csrf_token": "csrf-tok-123",
              "lang_switch_url_vi": "/login?lang=vi", "lang_switch_url_en": "/login?lang=en",
              "static_url": "/static"}
    return parse(templates.get_template(name).render({**common, **context}))


def template_keys() -> set[str]:
    keys: set[str] = set()
    for path in TEMPLATES_DIR.glob("*.html"):
        keys |= set(re.findall(r"""\bt\(\s*["']([A-Za-z0-9_.\-]+)["']\s*\)""", path.read_text(encoding="utf-8")))
    return keys


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- catalogs -------------------------------------------------------------------------------------------


def test_vietnamese_and_english_catalogs_have_exactly_the_same_keys() -> None:
    assert set(catalog("vi")) - set(catalog("en")) == set()
    assert set(catalog("en")) - set(catalog("vi")) == set()


def test_every_key_used_in_the_templates_exists_in_both_catalogs() -> None:
    used = template_keys()
    assert {"app.name", "login.title", "consent.allow"} <= used  # the regex really finds the calls
    used |= {f"scope.{scope}" for scope in SCOPES}  # built as "scope." ~ scope
    used |= {f"account.level{level}" for level in LEVELS} | {f"account.level{level}.allows" for level in LEVELS}
    for locale in SUPPORTED:
        assert used - set(catalog(locale)) == set(), locale


def test_every_required_error_message_exists_in_natural_vietnamese_and_english() -> None:
    for key in REQUIRED_ERROR_KEYS:
        vi, en = catalog("vi").get(key), catalog("en").get(key)
        assert vi and en, key
        assert vi != en, key
        assert not vi.isascii(), f"{key}: Vietnamese text without diacritics"


def test_no_message_is_empty_and_placeholders_agree_between_languages() -> None:
    for key, vi in catalog("vi").items():
        en = catalog("en")[key]
        assert vi.strip() and en.strip(), key
        assert placeholders(vi) == placeholders(en), key


def test_the_service_name_is_translated() -> None:
    assert translator("vi")("app.name") == "Định danh điện tử"
    assert translator("en")("app.name") == "Electronic identity"


def test_missing_keys_fall_back_to_vietnamese_then_to_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(catalog("en"), "login.title")
    assert translator("en")("login.title") == catalog("vi")["login.title"]
    assert translator("en")("no.such.key") == "no.such.key"
    assert translator("fr")("login.title") == catalog("vi")["login.title"]


def test_catalogs_and_translators_are_built_once() -> None:
    assert catalog("vi") is catalog("vi")
    assert translator("en") is translator("en")


# --- templates ------------------------------------------------------------------------------------------


def test_templates_are_jinja2templates_with_autoescaping(templates: Jinja2Templates) -> None:
    assert isinstance(templates, Jinja2Templates)
    page = render(templates, "consent.html", "vi", {**PAGES["consent.html"], "client_name": "<b>x</b>"})
    assert "<b>x</b>" not in page.html and "&lt;b&gt;x&lt;/b&gt;" in page.html


@pytest.mark.parametrize("lang", SUPPORTED)
@pytest.mark.parametrize("variant", [PAGES, FIRST_VISIT], ids=["with_errors", "first_visit"])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_renders_accessibly_in_both_languages(
    templates: Jinja2Templates, name: str, variant: dict[str, dict[str, Any]], lang: str
) -> None:
    page = render(templates, name, lang, variant[name])
    t = translator(lang)

    assert f'<html lang="{lang}">' in page.html
    assert page.one("meta", name="viewport").attrs["content"] == "width=device-width, initial-scale=1"
    assert page.one("link", rel="stylesheet").attrs["href"] == "/static/style.css"
    assert len(page.all("h1")) == 1
    assert "<script" not in page.html.lower()
    assert not any(k.startswith("on") for e in page.elements for k in e.attrs)  # no inline handlers
    assert t("app.name") in page.html
    assert page.one("main").attrs["id"] == "main"

    for other in SUPPORTED:
        link = page.one("a", hreflang=other)
        assert link.attrs["href"] == f"/login?lang={other}"
        assert ("aria-current" in link.attrs) == (other == lang)

    labels = {e.attrs.get("for") for e in page.all("label")}
    for element in page.elements:
        if element.tag in ("input", "select", "textarea") and element.attrs.get("type") != "hidden":
            assert element.attrs.get("id") in labels, element.attrs
            assert element.attrs.get("autocomplete"), element.attrs

    ids = page.ids()
    for element in page.elements:
        for referenced in element.attrs.get("aria-describedby", "").split():
            assert referenced in ids, f"aria-describedby points to missing id {referenced}"

    for index, form in enumerate(page.forms):
        assert form.attrs["method"] == "post"
        assert form.attrs["action"].startswith("/")
        assert page.fields_of(index)["csrf_token"] == "csrf-tok-123"


def test_login_page_posts_the_contract_fields(templates: Jinja2Templates) -> None:
    page = render(templates, "login.html", "vi", PAGES["login.html"])
    assert page.forms[0].attrs["action"] == "/login"
    assert page.fields_of(0) == {"csrf_token": "csrf-tok-123", "req": "req-1", "cccd": "001190123456",
                                 "password": ""}
    cccd = page.one("input", name="cccd")
    assert cccd.attrs["autocomplete"] == "username"
    assert cccd.attrs["inputmode"] == "numeric" and cccd.attrs["pattern"] == "[0-9]{12}"
    assert page.one("input", name="password").attrs["type"] == "password"
    assert page.one("input", name="password").attrs["autocomplete"] == "current-password"
    alert = page.one("p", role="alert")
    assert alert.attrs["id"] in cccd.attrs["aria-describedby"].split()
    assert "Bệnh viện Bạch Mai" in page.html
    assert page.all("a", href="/enroll")


def test_login_page_without_an_error_has_no_alert(templates: Jinja2Templates) -> None:
    page = render(templates, "login.html", "en", FIRST_VISIT["login.html"])
    assert not [e for e in page.elements if e.attrs.get("role") == "alert"]
    assert page.one("input", name="cccd").attrs["value"] == ""
    assert "None" not in page.html


def test_consent_page_describes_each_scope_and_offers_allow_or_deny(templates: Jinja2Templates) -> None:
    page = render(templates, "consent.html", "en", PAGES["consent.html"])
    assert page.forms[0].attrs["action"] == "/consent"
    assert page.fields_of(0) == {"csrf_token": "csrf-tok-123", "req": "req-1"}
    decisions = [e.attrs["value"] for e in page.all("button", name="decision", type="submit")]
    assert decisions == ["allow", "deny"]
    for scope in SCOPES:
        assert translator("en")(f"scope.{scope}") in page.html
    assert "001******456" in page.html


def test_enrollment_form_prefills_values_and_links_each_error(templates: Jinja2Templates) -> None:
    page = render(templates, "enroll_start.html", "vi", PAGES["enroll_start.html"])
    assert page.forms[0].attrs["action"] == "/enroll"
    assert page.fields_of(0) == {"csrf_token": "csrf-tok-123", **PAGES["enroll_start.html"]["form"]}
    expected = {"cccd": ("text", "username"), "full_name": ("text", "name"), "birth_date": ("date", "bday"),
                "phone": ("tel", "tel")}
    for name, (kind, autocomplete) in expected.items():
        element = page.one("input", name=name)
        assert (element.attrs["type"], element.attrs["autocomplete"]) == (kind, autocomplete)
        assert element.attrs["aria-invalid"] == "true"
        error = page.one("p", id=f"{name}-error")
        assert error.attrs["role"] == "alert" and error.attrs["id"] in element.attrs["aria-describedby"].split()
    cccd = page.one("input", name="cccd")
    assert cccd.attrs["inputmode"] == "numeric" and cccd.attrs["pattern"] == "[0-9]{12}"
    assert page.one("p", id="form-error").attrs["role"] == "alert"
    assert "general problem" in page.html


def test_verification_page_has_a_code_form_and_a_resend_form(templates: Jinja2Templates) -> None:
    page = render(templates, "enroll_verify.html", "vi", PAGES["enroll_verify.html"])
    assert [f.attrs["action"] for f in page.forms] == ["/enroll/verify", "/enroll/resend"]
    assert page.fields_of(0) == {"csrf_token": "csrf-tok-123", "enrollment": "enr-1", "code": ""}
    assert page.fields_of(1) == {"csrf_token": "csrf-tok-123", "enrollment": "enr-1"}
    code = page.one("input", name="code")
    assert code.attrs["autocomplete"] == "one-time-code"
    assert code.attrs["inputmode"] == "numeric" and code.attrs["pattern"] == "[0-9]{6}"
    assert code.attrs["aria-describedby"] == page.one("p", role="alert").attrs["id"]
    assert "091****678" in page.html


def test_password_page_explains_the_rule_and_lists_problems(templates: Jinja2Templates) -> None:
    page = render(templates, "enroll_password.html", "en", PAGES["enroll_password.html"])
    assert page.forms[0].attrs["action"] == "/enroll/password"
    assert page.fields_of(0) == {"csrf_token": "csrf-tok-123", "enrollment": "enr-1", "password": "",
                                 "password_confirm": ""}
    for name in ("password", "password_confirm"):
        assert page.one("input", name=name).attrs["autocomplete"] == "new-password"
    assert translator("en")("password.rule") in page.html
    assert "8" in translator("en")("password.rule") and "8" in translator("vi")("password.rule")
    assert page.one("div", role="alert").attrs["id"] in page.one("input", name="password").attrs["aria-describedby"]
    assert "too short" in page.html and "mismatch" in page.html


def test_done_page_explains_level_one_and_how_to_reach_level_two(templates: Jinja2Templates) -> None:
    for lang in SUPPORTED:
        page = render(templates, "enroll_done.html", lang, {})
        assert page.all("a", href="/account")
        assert translator(lang)("done.level1") in page.html
        assert translator(lang)("done.level2_how") in page.html
    assert "chip" in translator("vi")("done.level2_how") and "Công an" in translator("vi")("done.level2_how")


def test_error_page_shows_title_message_and_optional_status(templates: Jinja2Templates) -> None:
    page = render(templates, "error.html", "en", PAGES["error.html"])
    assert "Không thể tiếp tục" in page.html and page.one("p", role="alert")
    assert "400" in page.html
    assert "400" not in render(templates, "error.html", "en", {"title": "T", "message": "M"}).html


@pytest.mark.parametrize("level", LEVELS)
def test_account_page_shows_the_level_and_a_logout_form(templates: Jinja2Templates, level: int) -> None:
    page = render(templates, "account.html", "vi", {"account_display": "001******456", "level": level})
    assert translator("vi")(f"account.level{level}") in page.html
    assert "001******456" in page.html
    assert page.forms[0].attrs["action"] == "/logout"
    assert page.fields_of(0) == {"csrf_token": "csrf-tok-123"}


def test_the_stylesheet_loads_nothing_from_elsewhere() -> None:
    css = (TEMPLATES_DIR.parent / "static" / "style.css").read_text(encoding="utf-8")
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    assert ":focus-visible" in css and "44px" in css


# --- CSRF -----------------------------------------------------------------------------------------------


def test_csrf_token_verifies_for_the_browser_it_was_issued_to() -> None:
    token = issue_csrf_token(b"secret", "browser-1")
    assert verify_csrf_token(b"secret", "browser-1", token)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # url-safe, unpadded SHA-256


def test_csrf_token_is_refused_for_another_browser_or_secret() -> None:
    token = issue_csrf_token(b"secret", "browser-1")
    assert not verify_csrf_token(b"secret", "browser-2", token)
    assert not verify_csrf_token(b"other-secret", "browser-1", token)
    assert issue_csrf_token(b"secret", "browser-1") != issue_csrf_token(b"secret", "browser-2")


@pytest.mark.parametrize("forged", ["", "forged", "A" * 43, "é" * 43, "\x00"])
def test_forged_csrf_tokens_are_refused_without_raising(forged: str) -> None:
    assert not verify_csrf_token(b"secret", "browser-1", forged)


def test_a_tampered_csrf_token_is_refused() -> None:
    token = issue_csrf_token(b"secret", "browser-1")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not verify_csrf_token(b"secret", "browser-1", tampered)
    assert not verify_csrf_token(b"secret", "", issue_csrf_token(b"secret", ""))


# --- security headers -----------------------------------------------------------------------------------


def _plain(_: Request) -> Response:
    return PlainTextResponse("ok")


def _own_csp(_: Request) -> Response:
    return PlainTextResponse("ok", headers={"Content-Security-Policy": "default-src 'none'; form-action https://rp"})


def _client(hsts: bool) -> TestClient:
    app = Starlette(routes=[Route("/", _plain), Route("/own-csp", _own_csp)])
    return TestClient(SecurityHeadersMiddleware(app, hsts=hsts))


def test_every_response_carries_the_security_headers() -> None:
    response = _client(hsts=True).get("/")
    csp = response.headers["content-security-policy"]
    assert csp == ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                   "frame-ancestors 'none'; base-uri 'none'")
    assert "script-src" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


def test_hsts_is_only_sent_when_asked_for() -> None:
    response = _client(hsts=False).get("/")
    assert "strict-transport-security" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"


def test_a_header_set_by_the_route_is_kept() -> None:
    response = _client(hsts=False).get("/own-csp")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'; form-action https://rp"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_error_responses_carry_the_headers_too() -> None:
    response = _client(hsts=False).get("/missing")
    assert response.status_code == 404
    assert response.headers["x-frame-options"] == "DENY"


# --- locale negotiation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("ui_locales", "cookie", "accept_language", "expected"), [
    (None, None, None, "vi"),
    ("en", "vi", "vi", "en"),                       # explicit choice first
    ("fr en-US vi", None, None, "en"),              # first supported of the list wins
    ("fr de", "en", None, "en"),                    # nothing supported: fall through to the cookie
    (None, "en", "vi", "en"),                       # cookie before the header
    (None, "xx", "en-GB,en;q=0.9", "en"),           # unknown cookie ignored
    (None, None, "fr;q=1, en-GB;q=0.8, vi;q=0.5", "en"),
    (None, None, "vi-VN, en;q=0.9", "vi"),
    (None, None, "en;q=0, vi;q=0.1", "vi"),        # q=0 means "not acceptable"
    (None, None, "en;q=0", "vi"),
    (None, None, "*", "vi"),
    (None, None, "de, fr", "vi"),
    (None, None, "en;q=abc, vi;q=0.5", "vi"),
    ("", "", "", "vi"),
])
def test_locale_negotiation(ui_locales: str | None, cookie: str | None, accept_language: str | None,
                            expected: str) -> None:
    assert negotiate_locale(ui_locales, cookie, accept_language) == expected
