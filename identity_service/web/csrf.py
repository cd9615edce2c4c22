"""CSRF synchronizer tokens bound to one browser (OWASP CSRF Prevention Cheat Sheet, HMAC-based token).

The binding is a random per-browser id kept in an HttpOnly cookie; the token is
HMAC-SHA256(secret, binding). A page embeds the token in every form; a cross-site attacker can
neither read it nor compute it for someone else's browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# Domain separation: the same secret must never yield a CSRF token that is valid as another MAC.
_CONTEXT = b"identity_service/csrf/v1|"


def issue_csrf_token(secret: bytes, binding: str) -> str:
    """The url-safe token (no padding) for the browser identified by ``binding``."""
    digest = hmac.new(secret, _CONTEXT + binding.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify_csrf_token(secret: bytes, binding: str, token: str) -> bool:
    """True only for the token issued for this binding under this secret (constant-time compare)."""
    if not binding or not token:
        return False
    expected = issue_csrf_token(secret, binding).encode("ascii")
    # Compare bytes: compare_digest refuses non-ASCII str, and a forged token may contain anything.
    return hmac.compare_digest(expected, token.encode("utf-8", errors="replace"))
