"""A slow relying party cannot hold up the citizen's logout (real uvicorn, real sockets)."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import anyio
import httpx
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from identity_service.storage.models import Client
from tests.factories import make_account, make_citizen, make_client
from tests.html_forms import form_posting_to
from tests.live_provider import Provider
from tests.live_server import free_port, serve_in_thread

REDIRECT_URI = "https://rp.example/callback"


def test_logout_answers_while_the_client_is_still_stalling(provider: Provider) -> None:
    release = threading.Event()
    delivered = threading.Event()

    async def stalling_endpoint(request: Request) -> Response:
        await request.form()
        await anyio.to_thread.run_sync(release.wait, 30)
        delivered.set()
        return Response(status_code=200)

    rp = Starlette(routes=[Route("/backchannel", stalling_endpoint, methods=["POST"])])
    with serve_in_thread(rp, free_port()) as rp_base:  # type: ignore[arg-type]
        citizen = make_citizen(provider.engine)
        make_account(provider.engine, citizen, "trăng-rằm-sáng-tỏ")
        client_id, _ = make_client(provider.engine, REDIRECT_URI)
        with Session(provider.engine) as session:
            client = session.get(Client, client_id)
            assert client is not None
            client.backchannel_logout_uri = f"{rp_base}/backchannel"
            session.add(client)
            session.commit()
        browser = httpx.Client(base_url=provider.base_url)
        page = browser.get("/login")
        form = form_posting_to(page.text, "/login")
        browser.post("/login", data={**form.fields, "cccd": citizen.cccd, "password": "trăng-rằm-sáng-tỏ"})
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": "openid",
                  "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
        consent = browser.get(browser.get(f"/authorize?{urlencode(params)}").headers["location"])
        form = form_posting_to(consent.text, "/consent")
        assert browser.post("/consent", data={**form.fields, "decision": "allow"}).status_code == 303
        account = browser.get("/account")
        logout = browser.post("/logout", data=form_posting_to(account.text, "/logout").fields)
        assert logout.status_code == 200  # answered while the client has not responded yet
        assert not delivered.is_set()
        release.set()
        assert delivered.wait(10)
        browser.close()
