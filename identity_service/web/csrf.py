"""CSRF synchronizer tokens bound to a random per-browser id (OWASP CSRF cheat sheet, HMAC variant)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def issue_csrf_token(secret: bytes, binding: str) -> str:
    digest = hmac.new(secret, f"csrf|{binding}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify_csrf_token(secret: bytes, binding: str, token: str) -> bool:
    return hmac.compare_digest(issue_csrf_token(secret, binding), token)
