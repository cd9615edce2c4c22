"""Login helper for web relying parties: authorization URL (PKCE S256, state, nonce), callback handling
(RFC 9207 ``iss``, state, code exchange, ID token verification), refresh, logout URL, introspection.

Client authentication is ``client_secret_basic`` or ``private_key_jwt`` (RFC 7523).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt

from identity_client.errors import IdentityError, InvalidToken, ProviderUnavailable
from identity_client.identity import Identity
from identity_client.verifier import TokenVerifier


class LoginError(IdentityError):
    """The provider answered the authorization request with an error, or the callback is not ours."""

    def __init__(self, error: str, description: str | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class LoginState:
    """What to keep (server-side or in a signed cookie) between the redirect and the callback."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


@dataclass(frozen=True)
class Tokens:
    """A token response: ``identity`` is the verified ID token (``None`` when none was returned)."""

    identity: Identity | None
    id_token: str | None
    access_token: str
    refresh_token: str | None
    expires_in: int | None
    scope: str | None


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class LoginHelper:
    """The authorization-code flow for one confidential client (one instance per process, thread-safe).

    Give exactly one of ``client_secret`` (``client_secret_basic``) and ``private_key`` (+
    ``private_key_id``, for ``private_key_jwt``). ``verifier`` defaults to a ``TokenVerifier`` for
    this client; its level and nonce checks apply to the ID tokens ``handle_callback`` returns.
    """

    def __init__(self, issuer: str, client_id: str, redirect_uri: str, *, client_secret: str | None = None,
                 private_key: Any = None, private_key_id: str | None = None, scope: str = "openid",
                 verifier: TokenVerifier | None = None, http: httpx.Client | None = None,
                 introspection_cache_seconds: float = 10.0) -> None:
        if (client_secret is None) == (private_key is None):
            raise ValueError("give exactly one of client_secret and private_key")
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self._secret = client_secret
        self._private_key = private_key
        self._private_key_id = private_key_id
        self._http = http or httpx.Client(timeout=10.0)
        self.verifier = verifier or TokenVerifier(issuer, audience=client_id, http=self._http)
        self._introspection_ttl = introspection_cache_seconds
        self._introspected: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    @property
    def issuer(self) -> str:
        """The provider's issuer URL (``iss``), without a trailing slash."""
        return self.verifier.issuer

    def _endpoint(self, name: str) -> str:
        value = self.verifier.discover().get(name)
        if not isinstance(value, str):
            raise ProviderUnavailable(f"the provider does not offer {name}")
        return value

    def authorization_url(self, *, acr_values: str | None = None, prompt: str | None = None,
                          **extra: str) -> tuple[str, LoginState]:
        """The URL to send the browser to, and the state to keep until the callback."""
        state = LoginState(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                           code_verifier=secrets.token_urlsafe(48), redirect_uri=self.redirect_uri)
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "scope": self.scope, "state": state.state, "nonce": state.nonce,
                  "code_challenge": _challenge(state.code_verifier), "code_challenge_method": "S256", **extra}
        if acr_values:
            params["acr_values"] = acr_values
        if prompt:
            params["prompt"] = prompt
        return f"{self._endpoint('authorization_endpoint')}?{urlencode(params)}", state

    def _client_auth(self, data: dict[str, str], audience: str) -> httpx.BasicAuth | None:
        if self._secret is not None:
            return httpx.BasicAuth(self.client_id, self._secret)
        now = int(time.time())
        headers = {"kid": self._private_key_id} if self._private_key_id else None
        data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        data["client_assertion"] = jwt.encode(
            {"iss": self.client_id, "sub": self.client_id, "aud": audience, "iat": now, "exp": now + 60,
             "jti": str(uuid.uuid4())}, self._private_key, algorithm="RS256", headers=headers)
        return None

    def _post(self, endpoint: str, data: dict[str, str]) -> dict[str, Any]:
        url = self._endpoint(endpoint)
        auth = self._client_auth(data, url)
        try:
            response = self._http.post(url, data=data, auth=auth) if auth else self._http.post(url, data=data)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{endpoint} unreachable: {type(exc).__name__}") from None
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code >= 400:
            raise LoginError(str(body.get("error", f"http_{response.status_code}")), body.get("error_description"))
        return body

    def handle_callback(self, callback_url: str, login: LoginState) -> Tokens:
        """Check the callback (iss, state, error), exchange the code, verify the ID token."""
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
        if params.get("iss") is not None and params["iss"] != self.issuer:
            raise LoginError("invalid_request", "the response comes from another issuer (RFC 9207)")
        if not hmac.compare_digest(params.get("state", ""), login.state):
            raise LoginError("invalid_request", "state does not match this login")
        if "error" in params:
            raise LoginError(params["error"], params.get("error_description"))
        if "code" not in params:
            raise LoginError("invalid_request", "no code in the callback")
        body = self._post("token_endpoint", {"grant_type": "authorization_code", "code": params["code"],
                                             "redirect_uri": login.redirect_uri,
                                             "code_verifier": login.code_verifier})
        return self._tokens(body, login.nonce)

    def refresh(self, refresh_token: str) -> Tokens:
        """Rotate the refresh token (keep the new one: the old one is now spent)."""
        return self._tokens(self._post("token_endpoint", {"grant_type": "refresh_token",
                                                          "refresh_token": refresh_token}), None)

    def _tokens(self, body: dict[str, Any], nonce: str | None) -> Tokens:
        if "access_token" not in body:
            raise InvalidToken("the token response has no access_token")
        id_token = body.get("id_token")
        identity = self.verifier.verify_id_token(id_token, nonce=nonce) if id_token else None
        return Tokens(identity=identity, id_token=id_token, access_token=body["access_token"],
                      refresh_token=body.get("refresh_token"), expires_in=body.get("expires_in"),
                      scope=body.get("scope"))

    def logout_url(self, id_token: str, post_logout_redirect_uri: str | None = None, state: str | None = None) -> str:
        """RP-initiated logout: the ``end_session_endpoint`` URL with ``id_token_hint`` (and where to return).

        ``post_logout_redirect_uri`` must be registered for this client, exactly.
        """
        params = {"id_token_hint": id_token, "client_id": self.client_id}
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state:
            params["state"] = state
        return f"{self._endpoint('end_session_endpoint')}?{urlencode(params)}"

    def is_active(self, token: str) -> bool:
        """Revocation-aware check through introspection (RFC 7662), cached a few seconds per token."""
        now = time.monotonic()
        with self._lock:
            cached = self._introspected.get(token)
            if cached and cached[0] > now:
                return cached[1]
        active = bool(self._post("introspection_endpoint", {"token": token}).get("active"))
        with self._lock:
            if len(self._introspected) > 10_000:
                self._introspected.clear()
            self._introspected[token] = (now + self._introspection_ttl, active)
        return active
