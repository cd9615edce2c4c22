"""A relying party's back-channel logout endpoint on a real socket, recording the tokens it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity_service.storage.models import Client
from tests.harness import ISSUER, Harness, published_key
from tests.live_server import free_port, serve_in_thread


class ReceivingRp:
    """Answers 503 to the first ``fail_first`` deliveries, then records each ``logout_token``."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.received = threading.Event()
        self.fail_first = 0
        self._arrived = threading.Condition()

    async def endpoint(self, request: Request) -> Response:
        if self.fail_first > 0:
            self.fail_first -= 1
            return Response(status_code=503)
        form = await request.form()
        with self._arrived:
            self.tokens.append(str(form["logout_token"]))
            self._arrived.notify_all()
        self.received.set()
        return Response(status_code=200)

    def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        """The tokens once ``count`` have arrived (an AssertionError if they do not within ``timeout``)."""
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.tokens) >= count, timeout), self.tokens
            return list(self.tokens)


@contextmanager
def receiving_rp(harness: Harness, client_id: str | None = None,
                 post_logout_redirect_uris: list[str] | None = None) -> Iterator[ReceivingRp]:
    """Register a live back-channel logout endpoint for ``client_id`` (the harness client by default)."""
    receiver = ReceivingRp()
    app = Starlette(routes=[Route("/backchannel", receiver.endpoint, methods=["POST"])])
    with serve_in_thread(app, free_port()) as base:  # type: ignore[arg-type]
        with Session(harness.engine) as session:
            client = session.get(Client, client_id or harness.client_id)
            assert client is not None
            client.backchannel_logout_uri = f"{base}/backchannel"
            if post_logout_redirect_uris is not None:
                client.post_logout_redirect_uris = post_logout_redirect_uris
            session.add(client)
            session.commit()
        harness.services.oauth.clients.invalidate(client_id or harness.client_id)  # as the admin API does
        harness.services.backchannel.first_delay = 0.05
        yield receiver


def verified_logout_token(harness: Harness, token: str, audience: str | None = None) -> dict[str, Any]:
    """The claims of a logout token, verified as an RP would (signature, issuer, audience, typ)."""
    assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
    jwks = harness.client.get("/jwks.json").json()
    claims: dict[str, Any] = jwt.decode(token, published_key(jwks, token), algorithms=["RS256"],
                                        audience=audience or harness.client_id, issuer=ISSUER)
    assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
    return claims
