"""Everything a request handler needs, built once per process by :func:`build_services`."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy.engine import Engine

from identity_service.config import Settings
from identity_service.identity.account_status import AccountAccess
from identity_service.identity.accounts import AccountService
from identity_service.identity.activation import Activations
from identity_service.identity.audit import AuditTrail
from identity_service.identity.enrollment import EnrollmentService
from identity_service.identity.level_evidence import LevelTwoRegistrations
from identity_service.identity.levels import AcrValues
from identity_service.identity.otp import OtpService
from identity_service.identity.second_factors import SecondFactorService
from identity_service.identity.sms import make_sms_sender
from identity_service.oidc.logout import BackchannelLogout
from identity_service.oidc.refresh_tokens import RefreshTokenStore
from identity_service.oidc.server import IdentityAuthorizationServer
from identity_service.oidc.tokens import TokenIssuer
from identity_service.security.keys import KeyRing, ensure_development_key, generate_key, require_signing_key
from identity_service.security.passwords import PasswordHasher
from identity_service.security.rate_limits import RateLimiter
from identity_service.security.secret_box import SecretBox
from identity_service.storage.async_statements import AsyncStatements
from identity_service.storage.database import make_engine
from identity_service.storage.ephemeral import EphemeralStore, make_store
from identity_service.web.sessions import CookieNames, SessionManager

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    store: EphemeralStore
    keys: KeyRing
    hasher: PasswordHasher
    accounts: AccountService
    issuer: TokenIssuer
    oauth: IdentityAuthorizationServer
    sessions: SessionManager
    enrollment: EnrollmentService
    backchannel: BackchannelLogout
    csrf_secret: bytes
    limiter: RateLimiter
    second_factors: SecondFactorService
    acr: AcrValues
    level_two: LevelTwoRegistrations
    activations: Activations
    account_access: AccountAccess
    audit: AuditTrail
    statements_on_loop: AsyncStatements | None = None

    async def close_async(self) -> None:
        if self.statements_on_loop is not None:
            await self.statements_on_loop.close()

    def close(self) -> None:
        self.engine.dispose()


def _local_secret(path: Path, nbytes: int = 32) -> str:
    """A development secret kept in the data directory (0600), made on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def build_services(settings: Settings, engine: Engine | None = None, store: EphemeralStore | None = None) -> Services:
    engine = engine or make_engine(settings.resolved_database_url, settings.db_pool_size)
    store = store or make_store(settings.redis_url, settings.redis_prefix)
    if settings.environment != "production":
        ensure_development_key(settings.keys_dir)
    keys = KeyRing(settings.keys_dir)
    if settings.environment != "production" and settings.access_token_alg not in keys.algorithms:
        generate_key(settings.keys_dir, settings.access_token_alg)  # a development key set from before ES256
        keys.reload(force=True)
    require_signing_key(keys.current(), settings.access_token_alg)
    salt = settings.pairwise_salt or _local_secret(settings.data_dir / "pairwise_salt")
    csrf_secret = (settings.csrf_secret or _local_secret(settings.data_dir / "csrf_secret")).encode()
    hasher = PasswordHasher(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
        threads=settings.argon2_threads or None,
    )
    limiter = RateLimiter(store)
    accounts = AccountService(engine=engine, hasher=hasher, limiter=limiter)
    issuer = TokenIssuer(settings, keys, store, salt)
    # PostgreSQL: the hot refresh rotation also runs on the event loop (storage/async_statements.py).
    statements_on_loop = AsyncStatements.for_engine(engine, settings.db_pool_size)
    refresh_tokens = RefreshTokenStore(engine, store, settings.refresh_token_ttl, settings.refresh_token_reuse_grace,
                                       settings.access_token_ttl, statements_on_loop)
    oauth = IdentityAuthorizationServer(settings, engine, store, issuer, accounts, refresh_tokens)
    sessions = SessionManager(store, settings.session_ttl, CookieNames.for_issuer(settings.is_local_http))
    otp = OtpService(store, ttl=settings.otp_ttl, max_attempts=settings.otp_max_attempts)
    sms = make_sms_sender(settings)
    enrollment = EnrollmentService(engine, store, otp, sms, hasher, settings, limiter)
    # NIST SP 800-63B §5.1.4.2: TOTP secrets encrypted at rest under a key kept outside the database.
    box = SecretBox(settings.totp_key or _local_secret(settings.data_dir / "totp_key"))
    second_factors = SecondFactorService(engine, otp, sms, limiter, box, issuer_name="VNeID")
    services = Services(
        settings=settings, engine=engine, store=store, keys=keys, hasher=hasher, accounts=accounts,
        issuer=issuer, oauth=oauth, sessions=sessions, enrollment=enrollment, csrf_secret=csrf_secret,
        backchannel=BackchannelLogout(settings, keys), limiter=limiter, second_factors=second_factors,
        acr=AcrValues(settings.acr_level1, settings.acr_level2),
        level_two=LevelTwoRegistrations(engine), activations=Activations(engine, store, sms, hasher),
        account_access=AccountAccess(engine, store, refresh_tokens, settings.session_ttl),
        audit=AuditTrail(engine), statements_on_loop=statements_on_loop,
    )
    # A lock, revocation or level downgrade ends the account's sessions the way "log out this device"
    # does, back-channel logout included. Imported here: web/account_actions.py needs Services itself.
    from identity_service.web.account_actions import end_all_sessions

    services.account_access.end_sessions = partial(end_all_sessions, services)
    return services
