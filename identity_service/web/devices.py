"""A coarse, human description of a browser from its User-Agent ("Chrome on Android").

Only the product families are kept, never versions or the full header: enough for a citizen to
recognise a device in the account centre, too little to fingerprint it.
"""

from __future__ import annotations

_MAX_LENGTH = 512  # headers are attacker-controlled; look at a bounded prefix

# Order matters: Edge, Opera and Samsung Internet also say "Chrome"; Chrome also says "Safari".
_BROWSERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Edg/", "EdgA/", "EdgiOS/"), "Edge"),
    (("OPR/", "Opera"), "Opera"),
    (("SamsungBrowser/",), "Samsung Internet"),
    (("Zalo",), "Zalo"),
    (("Chrome/", "CriOS/", "Chromium/"), "Chrome"),
    (("Firefox/", "FxiOS/"), "Firefox"),
    (("Safari/",), "Safari"),
)
_SYSTEMS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Android",), "Android"),
    (("iPhone", "iPad", "iPod"), "iOS"),
    (("Windows",), "Windows"),
    (("CrOS",), "ChromeOS"),
    (("Macintosh", "Mac OS X"), "macOS"),
    (("Linux", "X11"), "Linux"),
)


def _first_match(user_agent: str, table: tuple[tuple[tuple[str, ...], str], ...]) -> str:
    for markers, name in table:
        if any(marker in user_agent for marker in markers):
            return name
    return ""


def describe_device(user_agent: str | None) -> tuple[str, str]:
    """``(browser, operating system)``; either is ``""`` when not recognised."""
    text = (user_agent or "")[:_MAX_LENGTH]
    return _first_match(text, _BROWSERS), _first_match(text, _SYSTEMS)
