"""Browser login sessions (ephemeral store) and the cookies that carry them."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from identity_service.identity.levels import AMR_MULTI_FACTOR
from identity_service.storage.ephemeral import EphemeralStore

_SESSIONS = "session"


@dataclass(frozen=True)
class BrowserSession:
    sid: str
    account_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    level: int

    def age(self) -> int:
        return int(time.time()) - self.auth_time


@dataclass(frozen=True)
class CookieNames:
    session: str
    browser: str
    secure: bool

    @classmethod
    def for_issuer(cls, local_http: bool) -> CookieNames:
        # __Host- cookies need Secure, which plain-http localhost cannot honour in every client.
        if local_http:
            return cls(session="ids_session", browser="ids_browser", secure=False)
        return cls(session="__Host-ids_session", browser="__Host-ids_browser", secure=True)


class SessionManager:
    def __init__(self, store: EphemeralStore, ttl: int, cookies: CookieNames) -> None:
        self.store = store
        self.ttl = ttl
        self.cookies = cookies

    def current(self, request: Request) -> BrowserSession | None:
        sid = request.cookies.get(self.cookies.session)
        if not sid or len(sid) > 100:
            return None
        data = self.store.get(_SESSIONS, sid)
        if data is None:
            return None
        data["amr"] = tuple(data["amr"])
        return BrowserSession(sid=sid, **data)

    def start(self, account_id: str, acr: str, amr: tuple[str, ...], level: int) -> BrowserSession:
        """A fresh session id on every login (no session fixation)."""
        session = BrowserSession(
            sid=secrets.token_urlsafe(32),
            account_id=account_id,
            auth_time=int(time.time()),
            acr=acr,
            amr=amr,
            level=level,
        )
        data: dict[str, Any] = asdict(session)
        data.pop("sid")
        data["amr"] = list(session.amr)
        self.store.put(_SESSIONS, session.sid, data, self.ttl)
        return session

    def elevate(self, session: BrowserSession, acr: str, method_amr: str, level: int) -> BrowserSession:
        """Step-up: the same citizen, a stronger authentication, under a new session id.

        OWASP ASVS V3.2.1 / Session Management Cheat Sheet: renew the id on any privilege change, so
        an id fixed or observed before the second factor is worthless after it. ``auth_time`` becomes
        the time of this authentication (OIDC Core §2: when the authentication occurred), and ``amr``
        gains the new method plus ``mfa`` (RFC 8176 §2: more than one factor).
        """
        amr = tuple(dict.fromkeys((*session.amr, method_amr, AMR_MULTI_FACTOR)))
        elevated = self.start(session.account_id, acr, amr, level)
        self.end(session.sid)
        return elevated

    def end(self, sid: str) -> None:
        self.store.delete(_SESSIONS, sid)

    def set_cookie(self, response: Response, session: BrowserSession) -> None:
        response.set_cookie(
            self.cookies.session, session.sid, max_age=self.ttl, path="/",
            secure=self.cookies.secure, httponly=True, samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookies.session, path="/", secure=self.cookies.secure, httponly=True,
                               samesite="lax")

    def browser_id(self, request: Request) -> str | None:
        value = request.cookies.get(self.cookies.browser)
        return value if value and len(value) <= 64 else None

    def ensure_browser_cookie(self, request: Request, response: Response) -> str:
        """A random per-browser id that CSRF tokens are bound to (set before the first form)."""
        value = self.browser_id(request)
        if value is None:
            value = secrets.token_urlsafe(24)
        response.set_cookie(
            self.cookies.browser, value, max_age=self.ttl, path="/",
            secure=self.cookies.secure, httponly=True, samesite="lax",
        )
        return value
