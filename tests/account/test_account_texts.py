"""Texts the account centre builds from data (claim names, event kinds, notices) exist in vi and en."""

from __future__ import annotations

import re

from identity_service.identity.access_history import HISTORY_EVENTS
from identity_service.oidc.claims import SCOPE_CLAIMS
from identity_service.web import account, account_services, account_sessions
from identity_service.web.i18n import SUPPORTED, catalog
from identity_service.web.templating import TEMPLATES_DIR


def _keys_built_from_data() -> set[str]:
    keys = {f"claim.{claim}" for claims in SCOPE_CLAIMS.values() for claim in claims}
    keys |= {f"history.event.{event}" for event in HISTORY_EVENTS}
    keys |= {f"account.done.{n}" for n in account._NOTICES}
    keys |= {f"sessions.done.{n}" for n in account_sessions._NOTICES}
    keys |= {f"services.done.{n}" for n in account_services._NOTICES}
    keys |= {"error.password.current_wrong", "error.password.unchanged"}
    nav = (TEMPLATES_DIR / "partials" / "account_nav.html").read_text(encoding="utf-8")
    keys |= set(re.findall(r'"(account\.nav\.[a-z_]+)"', nav))
    return keys


def test_every_key_built_from_data_exists_in_both_languages() -> None:
    keys = _keys_built_from_data()
    assert "account.nav.security" in keys and "claim.citizen_id" in keys
    for locale in SUPPORTED:
        assert keys - set(catalog(locale)) == set(), locale


def test_vietnamese_account_texts_are_written_with_diacritics_and_differ_from_english() -> None:
    for key in _keys_built_from_data():
        assert catalog("vi")[key] != catalog("en")[key], key
        assert not catalog("vi")[key].isascii(), key
