"""Browser login sessions (ephemeral store) and the cookies that carry them."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from identity_service.identity.levels import AMR_MULTI_FACTOR
from identity_service.identity.session_cutoff import session_is_cut_off
from identity_service.storage.ephemeral import EphemeralStore, Put, SetAdd

_SESSIONS = "session"
_ACCOUNT_SESSIONS = "account_sessions"  # account id → set of sids (the account centre's device list)


@dataclass(frozen=True)
class BrowserSession:
    sid: str
    account_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    level: int
    device: tuple[str, str] = ("", "")  # (browser, operating system) from the User-Agent, coarse

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
        key = self.key_of(request)
        return self.load(key[1]) if key else None

    def key_of(self, request: Request) -> tuple[str, str] | None:
        """The store key of the session this request's cookie names, if it names one, so a page can
        read it together with other state (:meth:`from_record`)."""
        sid = request.cookies.get(self.cookies.session)
        if not sid or len(sid) > 100:
            return None
        return _SESSIONS, sid

    def load(self, sid: str) -> BrowserSession | None:
        """The live session ``sid``, or None when it ended or expired."""
        return self.from_record(sid, self.store.get(_SESSIONS, sid))

    def from_record(self, sid: str, data: dict[str, Any] | None) -> BrowserSession | None:
        """The session ``sid`` from its stored record (None: absent), unless it was cut off."""
        if data is None:
            return None
        # A lock or revocation ends every session of the account at once (identity/session_cutoff.py).
        started_at = data.pop("started_at", None)
        if session_is_cut_off(self.store, str(data["account_id"]), started_at):
            self.end(sid)
            return None
        data["amr"] = tuple(data["amr"])
        data["device"] = tuple(data.get("device") or ("", ""))
        return BrowserSession(sid=sid, **data)

    def start(self, account_id: str, acr: str, amr: tuple[str, ...], level: int,
              device: tuple[str, str] = ("", ""), auth_time: int | None = None) -> BrowserSession:
        """A fresh session id on every login (no session fixation), listed under the account."""
        session = BrowserSession(
            sid=secrets.token_urlsafe(32),
            account_id=account_id,
            auth_time=int(time.time()) if auth_time is None else auth_time,
            acr=acr,
            amr=amr,
            level=level,
            device=device,
        )
        data: dict[str, Any] = asdict(session)
        data.pop("sid")
        data["amr"] = list(session.amr)
        data["device"] = list(session.device)
        data["started_at"] = time.time()  # sub-second, unlike auth_time: compared with lock cut-offs
        # The index lives as long as the newest session; expired members are pruned when listed.
        self.store.write_many([Put(_SESSIONS, session.sid, data, self.ttl),
                               SetAdd(_ACCOUNT_SESSIONS, account_id, session.sid, self.ttl)])
        return session

    def elevate(self, session: BrowserSession, acr: str, method_amr: str, level: int) -> BrowserSession:
        """Step-up: the same citizen, a stronger authentication, under a new session id.

        OWASP ASVS V3.2.1 / Session Management Cheat Sheet: renew the id on any privilege change, so
        an id fixed or observed before the second factor is worthless after it. ``amr`` gains the new
        method plus ``mfa`` (RFC 8176 §2: more than one factor). ``auth_time`` stays the time of the
        password: a second factor entered now does not make an hours-old password fresh, so ``max_age``
        (OIDC Core §3.1.2.1) still asks for the password once it is older than the client allows.
        """
        amr = tuple(dict.fromkeys((*session.amr, method_amr, AMR_MULTI_FACTOR)))
        elevated = self.start(session.account_id, acr, amr, level, device=session.device,
                              auth_time=session.auth_time)
        self.end(session.sid)
        return elevated

    def end(self, sid: str) -> None:
        data = self.store.take(_SESSIONS, sid)
        if data is not None:
            self.store.set_remove(_ACCOUNT_SESSIONS, str(data["account_id"]), sid)

    def of_account(self, account_id: str) -> list[BrowserSession]:
        """The account's live sessions, oldest first; index entries of expired sessions are dropped."""
        sessions = []
        for sid in self.store.set_members(_ACCOUNT_SESSIONS, account_id):
            session = self.load(sid)
            if session is None or session.account_id != account_id:
                self.store.set_remove(_ACCOUNT_SESSIONS, account_id, sid)
                continue
            sessions.append(session)
        return sorted(sessions, key=lambda s: (s.auth_time, s.sid))

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
