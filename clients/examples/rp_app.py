"""What both example relying parties share: server-side sessions, templated pages, starting a login."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from identity_client.login import LoginHelper
from starlette.responses import RedirectResponse, Response

from clients.examples.web_sessions import SessionStore, WebSession

_SHARED_TEMPLATES = Path(__file__).parent / "templates"


def example_templates(templates: Path, home_name: str) -> Jinja2Templates:
    """An example's own ``templates`` folder first, then the pages both examples show (``message.html``,
    whose way back names the example's home page: ``home_name``)."""
    environment = Jinja2Templates(directory=[templates, _SHARED_TEMPLATES])
    environment.env.globals["home_name"] = home_name
    return environment


class RelyingPartyApp:
    """Every response saves the session it was built from, so a page never forgets to."""

    def __init__(self, login: LoginHelper, sessions: SessionStore, templates: Jinja2Templates) -> None:
        self.login = login
        self.sessions = sessions
        self.templates = templates

    def page(self, request: Request, session: WebSession, template: str, status: int = 200,
             **context: Any) -> Response:
        response = self.templates.TemplateResponse(request, template, {"session": session, **context},
                                                   status_code=status)
        self.sessions.save(response, session)
        return response

    def redirect(self, session: WebSession, location: str) -> Response:
        response = RedirectResponse(location, status_code=303)
        self.sessions.save(response, session)
        return response

    def start_login(self, session: WebSession, purpose: str, **options: str) -> Response:
        """Send the browser to the provider; ``purpose`` says what the callback finishes."""
        url, state = self.login.authorization_url(**options)
        session.data["pending_login"] = (purpose, state)
        return self.redirect(session, url)
