"""Vietnamese by default, English available. Catalogs are flat JSON files loaded once."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

SUPPORTED = ("vi", "en")
DEFAULT = "vi"
LOCALES_DIR = Path(__file__).with_name("locales")

# Bounds on attacker-supplied lists: a header or parameter cannot make us loop for long.
_MAX_UI_LOCALES = 10
_MAX_ACCEPT_LANGUAGE = 20


@cache
def catalog(locale: str) -> dict[str, str]:
    """The flat key → text catalog of a supported locale, read from disk once."""
    if locale not in SUPPORTED:
        raise ValueError(f"unsupported locale {locale!r}")
    data: dict[str, str] = json.loads((LOCALES_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def _primary_subtag(tag: str) -> str:
    return tag.strip().lower().replace("_", "-").split("-")[0]


def _first_supported(tags: list[str]) -> str | None:
    for tag in tags:
        if (primary := _primary_subtag(tag)) in SUPPORTED:
            return primary
    return None


def _accept_language_ranking(header: str) -> list[str]:
    """Language tags by preference (RFC 9110 §12.5.4); ``q=0`` means "not acceptable"."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:_MAX_ACCEPT_LANGUAGE]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip().lower()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if quality > 0 and tag.strip() not in ("", "*"):
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate_locale(ui_locales: str | None, cookie: str | None, accept_language: str | None) -> str:
    """Explicit choice (``lang`` query or OIDC ``ui_locales``, space-separated, first supported wins),
    then the ``ids_lang`` cookie, then Accept-Language, then Vietnamese."""
    if ui_locales and (chosen := _first_supported(ui_locales.split()[:_MAX_UI_LOCALES])):
        return chosen
    if cookie is not None and cookie in SUPPORTED:
        return cookie
    if accept_language and (chosen := _first_supported(_accept_language_ranking(accept_language))):
        return chosen
    return DEFAULT


def translator(locale: str) -> Callable[[str], str]:
    """``t(key)``: the locale's text, else Vietnamese, else the key itself (so a gap shows, never crashes)."""
    return _translator(locale if locale in SUPPORTED else DEFAULT)


@cache
def _translator(locale: str) -> Callable[[str], str]:
    primary = catalog(locale)
    fallback = catalog(DEFAULT)

    def t(key: str) -> str:
        return primary.get(key) or fallback.get(key) or key

    return t
