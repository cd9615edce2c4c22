"""Vietnamese by default, English available. Catalogs are flat JSON files loaded once."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

SUPPORTED = ("vi", "en")
DEFAULT = "vi"
_LOCALES = Path(__file__).with_name("locales")


@cache
def catalog(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((_LOCALES / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def _first_supported(candidates: list[str]) -> str | None:
    for candidate in candidates:
        primary = candidate.strip().lower().split("-")[0]
        if primary in SUPPORTED:
            return primary
    return None


def negotiate_locale(ui_locales: str | None, cookie: str | None, accept_language: str | None) -> str:
    """Explicit choice (``lang``/``ui_locales``) first, then the cookie, then Accept-Language."""
    if ui_locales and (chosen := _first_supported(ui_locales.split()[:10])):
        return chosen
    if cookie in SUPPORTED:
        return str(cookie)
    if accept_language:
        ranked = []
        for index, part in enumerate(accept_language.split(",")[:20]):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            ranked.append((-quality, index, tag))
        if chosen := _first_supported([tag for _, _, tag in sorted(ranked)]):
            return chosen
    return DEFAULT


@cache
def translator(locale: str) -> Callable[[str], str]:
    """``t(key)``: the locale's text, else Vietnamese, else the key itself."""
    primary = catalog(locale if locale in SUPPORTED else DEFAULT)
    fallback = catalog(DEFAULT)

    def t(key: str) -> str:
        return primary.get(key) or fallback.get(key) or key

    return t
