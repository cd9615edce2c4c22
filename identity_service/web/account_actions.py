"""Account-centre actions that span browser sessions, tokens and back-channel logout.

The database side of each action is a domain function (``identity/``); what lives here needs the
session store and the protocol layer: ending sessions, revoking access tokens of revoked refresh-token
families, and building back-channel logout tokens. Every function is blocking (threadpool) and returns
the deliveries for the caller to send after the response (``BackchannelLogout.deliver``).
"""

from __future__ import annotations

import hashlib

from identity_service.identity.connected_services import Withdrawal
from identity_service.oidc.logout import LogoutDelivery, forget_client
from identity_service.services import Services
from identity_service.web.logout import end_browser_session
from identity_service.web.sessions import BrowserSession


def session_handle(session: BrowserSession) -> str:
    """What a page may show for a session: the sid is a bearer credential and never leaves its cookie."""
    return hashlib.sha256(b"account-centre-session|" + session.sid.encode()).hexdigest()[:32]


def end_device_session(services: Services, account_id: str, handle: str) -> list[LogoutDelivery] | None:
    """End one of the account's sessions named by its handle; None when there is no such session."""
    for session in services.sessions.of_account(account_id):
        if session_handle(session) == handle:
            return end_browser_session(services, session, event="session.ended_from_account")
    return None


def end_other_sessions(services: Services, current: BrowserSession, event: str) -> list[LogoutDelivery]:
    """End every session of the account except ``current`` (after a password change)."""
    deliveries: list[LogoutDelivery] = []
    for session in services.sessions.of_account(current.account_id):
        if session.sid != current.sid:
            deliveries += end_browser_session(services, session, event=event)
    return deliveries


def end_all_sessions(services: Services, account_id: str, event: str) -> list[LogoutDelivery]:
    """End every session of the account (a locked account keeps none)."""
    deliveries: list[LogoutDelivery] = []
    for session in services.sessions.of_account(account_id):
        deliveries += end_browser_session(services, session, event=event)
    return deliveries


def complete_withdrawal(services: Services, account_id: str, withdrawal: Withdrawal) -> list[LogoutDelivery]:
    """After ``withdraw_consent``: kill the client's access tokens for the account, and end the client's
    part of every session of the account (back-channel logout for each session it signed in to).

    Access tokens die through the (client, subject) cut-off, with or without a refresh token: every
    one issued until now fails userinfo and introspection at once. The revoked families are marked too
    (their refresh tokens are already revoked in the same transaction as the withdrawal).
    """
    for family in withdrawal.families:
        # The rows are already revoked (same transaction as the withdrawal); this marks the family in
        # the ephemeral store, which is what access-token checks (userinfo, introspection) consult.
        services.oauth.refresh_tokens.revoke_family(family, reason="consent_withdrawn", account_id=account_id,
                                                    client_id=withdrawal.client_id)
    client = services.oauth.query_client(withdrawal.client_id)
    if client is not None:
        services.issuer.cut_off_access_tokens(client.row, account_id)
    deliveries = []
    for session in services.sessions.of_account(account_id):
        if not forget_client(services.store, session.sid, withdrawal.client_id):
            continue
        if client is not None and client.row.backchannel_logout_uri:
            token = services.backchannel.logout_token(client.row, services.issuer.subject(client.row, account_id),
                                                      session.sid)
            deliveries.append(LogoutDelivery(client.client_id, client.row.backchannel_logout_uri, token))
    return deliveries
