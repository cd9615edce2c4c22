"""The hospital check-in desk (FastAPI).

1. A staff member logs in through the provider (level 1 is enough) and must be on the staff list.
2. For each patient the desk starts a level-2 login (``acr_values=urn:eid:vn:level2``,
   ``prompt=login`` because the desk browser may hold the previous person's provider session).
3. The callback verifies the ID token with ``level=2``: a level-1 token raises ``InsufficientLevel``
   and the desk explains why; an error from the provider (``unmet_authentication_requirements``,
   ``access_denied``) is explained too. A level-2 patient's CCCD number opens the insurance screen.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Form, Request
from identity_client import IdentityError, InsufficientLevel
from identity_client.login import LoginError, LoginHelper, LoginState
from starlette.responses import RedirectResponse, Response

from clients.examples.config import RelyingPartyConfig
from clients.examples.hospital.insurance import InsuranceTable
from clients.examples.provider_errors import explain_login_error
from clients.examples.rp_app import RelyingPartyApp, example_templates
from clients.examples.web_sessions import SessionStore

LEVEL2_ACR = "urn:eid:vn:level2"
PATIENT_SCOPE = "openid profile citizen_id"
_TEMPLATES = example_templates(Path(__file__).parent / "templates", home_name="desk")


class HospitalDesk(RelyingPartyApp):
    """Wiring: the login helper, the sessions, the staff list and the insurance table."""

    def __init__(self, config: RelyingPartyConfig, staff: frozenset[str], insurance: InsuranceTable,
                 login: LoginHelper | None = None) -> None:
        super().__init__(login or LoginHelper(config.issuer, config.client_id, config.redirect_uri,
                                              client_secret=config.client_secret, scope=PATIENT_SCOPE),
                         SessionStore("hospital_session"), _TEMPLATES)
        self.config = config
        self.staff = staff
        self.insurance = insurance



def create_app(config: RelyingPartyConfig, staff: frozenset[str], insurance: InsuranceTable) -> FastAPI:
    """The desk app for ``config``'s client; ``staff`` are the CCCD numbers allowed to run the desk."""
    desk = HospitalDesk(config, staff, insurance)
    app = FastAPI(title="Hospital check-in (example)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.desk = desk

    @app.get("/")
    def home(request: Request) -> Response:
        session = desk.sessions.load(request)
        return desk.page(request, session, "desk.html", staff=session.data.get("staff"))

    @app.get("/staff/login")
    def staff_login(request: Request) -> Response:
        return desk.start_login(desk.sessions.load(request), "staff")

    @app.post("/checkin/start")
    def checkin_start(request: Request, csrf_token: str = Form("")) -> Response:
        session = desk.sessions.load(request)
        if not session.csrf_ok(csrf_token) or "staff" not in session.data:
            return desk.page(request, session, "message.html", 403, title="Staff login required",
                             message="Log in as hospital staff before checking a patient in.")
        session.data.pop("patient", None)
        return desk.start_login(session, "patient", acr_values=LEVEL2_ACR, prompt="login")

    @app.get("/callback")
    def callback(request: Request) -> Response:
        session = desk.sessions.load(request)
        pending: tuple[str, LoginState] | None = session.data.pop("pending_login", None)
        if pending is None:
            return desk.page(request, session, "message.html", 400, title="No login in progress",
                             message="This answer from the identity provider does not belong to a login "
                                     "started at this desk. Start again.")
        purpose, state = pending
        try:
            tokens = desk.login.handle_callback(str(request.url), state)
            assert tokens.id_token is not None
            if purpose == "patient":
                # The SDK's level check: a level-1 login raises InsufficientLevel here.
                identity = desk.login.verifier.verify_id_token(tokens.id_token, nonce=state.nonce, level=2)
            else:
                identity = desk.login.verifier.verify_id_token(tokens.id_token, nonce=state.nonce)
        except InsufficientLevel as exc:
            return desk.page(request, session, "level_refused.html", 403, actual=exc.actual)
        except LoginError as exc:
            title, message = explain_login_error(exc.error, exc.description)
            return desk.page(request, session, "message.html", 403, title=title, message=message)
        except IdentityError as exc:
            return desk.page(request, session, "message.html", 502, title="Login could not be checked",
                             message=f"The identity provider's answer was not accepted ({type(exc).__name__}).")
        if purpose == "staff":
            if identity.citizen_id not in desk.staff:
                return desk.page(request, session, "message.html", 403, title="Not hospital staff",
                                 message="This account is not on the hospital's staff list.")
            session.data["staff"] = {"name": identity.name, "citizen_id": identity.citizen_id}
            return desk.redirect(session, "/")
        session.data["patient"] = {"citizen_id": identity.citizen_id, "name": identity.name,
                                   "birthdate": identity.birthdate, "id_token": tokens.id_token}
        return desk.redirect(session, "/checkin")

    @app.get("/checkin")
    def checkin(request: Request) -> Response:
        session = desk.sessions.load(request)
        patient = session.data.get("patient")
        if "staff" not in session.data or patient is None:
            return desk.redirect(session, "/")
        card = desk.insurance.lookup(patient["citizen_id"] or "")
        return desk.page(request, session, "insurance.html", patient=patient, card=card)

    @app.post("/checkin/finish")
    def checkin_finish(request: Request, csrf_token: str = Form("")) -> Response:
        session = desk.sessions.load(request)
        patient = session.data.pop("patient", None) if session.csrf_ok(csrf_token) else None
        if patient is None:
            return desk.redirect(session, "/")
        # Sign the patient out of the provider too, so the next person at the desk starts clean.
        return desk.redirect(session, desk.login.logout_url(patient["id_token"],
                                                            post_logout_redirect_uri=f"{config.base_url}/"))

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        session = desk.sessions.load(request)
        response = RedirectResponse("/", status_code=303)
        if session.csrf_ok(csrf_token):
            desk.sessions.end(session, response)
        return response

    return app
