"""Settings: every option is an environment variable with the ``IDENTITY_`` prefix.

``DATABASE_URL`` and ``REDIS_URL`` are also accepted without the prefix because every
platform (compose, Kubernetes, Heroku-style hosts) already speaks them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Runtime configuration (see the README's configuration table)."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    issuer: str = "http://localhost:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    keys_dir: Path = Path("keys")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IDENTITY_DATABASE_URL", "DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IDENTITY_REDIS_URL", "REDIS_URL")
    )
    redis_prefix: str = "ids:"
    seed_demo: bool = True
    sms_sender: str = "development"
    pairwise_salt: str | None = None
    csrf_secret: str | None = None
    totp_key: str | None = None
    acr_level1: str = "urn:eid:vn:level1"
    acr_level2: str = "urn:eid:vn:level2"
    authorization_code_ttl: int = 60
    access_token_ttl: int = 600
    # ES256 signs ~9x faster than RS256 (2048-bit) and the provider signs every token centrally;
    # relying parties verify it ~2x slower, spread over all of them and cached by the SDK
    # (docs/operations.md, "Signing algorithm of access tokens"). ID tokens keep each client's
    # registered id_token_signed_response_alg (RS256 by default, OIDC Core §15.1).
    access_token_alg: Literal["ES256", "RS256"] = "ES256"
    id_token_ttl: int = 600
    refresh_token_ttl: int = 30 * 24 * 3600
    refresh_token_reuse_grace: int = 10
    session_ttl: int = 8 * 3600
    otp_ttl: int = 300
    otp_max_attempts: int = 5
    enrollment_ttl: int = 900
    login_request_ttl: int = 900
    db_pool_size: int = 20
    token_threads: int = Field(default=8, ge=1)  # threads for token grants that block on storage (oidc/token.py)
    client_cache_ttl: float = Field(default=10.0, ge=0)
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    argon2_threads: int = Field(default=0, ge=0)  # 0: the CPUs this process may run on

    @model_validator(mode="after")
    def _refuse_development_settings_in_production(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            problems = []
            if self.sms_sender == "development":
                problems.append("IDENTITY_SMS_SENDER=development writes codes to the log")
            if not self.issuer.startswith("https://"):
                problems.append("IDENTITY_ISSUER must be https://")
            if self.database_url is None or self.database_url.startswith("sqlite"):
                problems.append("IDENTITY_DATABASE_URL must name a PostgreSQL server")
            if self.redis_url is None:
                problems.append("IDENTITY_REDIS_URL must name a Redis server")
            if not self.pairwise_salt:
                problems.append("IDENTITY_PAIRWISE_SALT must be set (it fixes every pairwise sub)")
            if not self.csrf_secret:
                problems.append("IDENTITY_CSRF_SECRET must be set (shared by every process)")
            if not self.totp_key:
                problems.append("IDENTITY_TOTP_KEY must be set (it encrypts every TOTP secret)")
            if self.seed_demo:
                problems.append("IDENTITY_SEED_DEMO must be false")
            if problems:
                raise ValueError("production refuses to start: " + "; ".join(problems))
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'identity.db').as_posix()}"

    @property
    def is_local_http(self) -> bool:
        """True when the issuer is plain http on loopback (cookies cannot be Secure there)."""
        return self.issuer.startswith(("http://localhost", "http://127.0.0.1"))
