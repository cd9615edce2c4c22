"""Server-side sessions for the example apps: a random id in a cookie, the data in this process.

Server-side (not a signed cookie) so that back-channel logout can end a session the browser still
holds a cookie for. One process only: a real deployment keeps them in Redis or a database.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


@dataclass
class WebSession:
    """One browser's session; ``data`` is the app's (identity, tokens, pending login)."""

    id: str
    csrf_token: str
    expires_at: float
    data: dict[str, Any] = field(default_factory=dict)

    def csrf_ok(self, token: str) -> bool:
        return hmac.compare_digest(self.csrf_token, token)


class SessionStore:
    """Sessions by id; ``load`` gives a new one when the cookie is missing, unknown or expired."""

    def __init__(self, cookie_name: str, ttl_seconds: int = 8 * 3600, secure_cookie: bool = False) -> None:
        self.cookie_name = cookie_name
        self.ttl = ttl_seconds
        self.secure_cookie = secure_cookie
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def load(self, request: Request) -> WebSession:
        session_id = request.cookies.get(self.cookie_name, "")
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at > time.time():
                return session
            self._sessions.pop(session_id, None)
        return WebSession(id=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(24),
                          expires_at=time.time() + self.ttl)

    def save(self, response: Response, session: WebSession) -> None:
        """Keep ``session`` and set its cookie on ``response``."""
        with self._lock:
            self._sessions[session.id] = session
        response.set_cookie(self.cookie_name, session.id, max_age=self.ttl, httponly=True, samesite="lax",
                            secure=self.secure_cookie, path="/")

    def end(self, session: WebSession, response: Response | None = None) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)
        if response is not None:
            response.delete_cookie(self.cookie_name, path="/")

    def end_where(self, matches: Callable[[WebSession], bool]) -> int:
        """End every session ``matches`` selects; returns how many ended."""
        with self._lock:
            ended = [sid for sid, session in self._sessions.items() if matches(session)]
            for sid in ended:
                del self._sessions[sid]
        return len(ended)
