"""``identity-service``: run the provider and operate it (registry, accounts, clients, keys, SMS outbox)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlmodel import Session, select

from identity_service.config import Environment, Settings
from identity_service.logging_setup import configure_logging
from identity_service.storage.database import make_engine
from identity_service.storage.migrations import upgrade_database

app = typer.Typer(help="identity_service: national electronic identity provider (OpenID Connect).",
                  no_args_is_help=True)
registry_app = typer.Typer(help="The population registry (synthetic data, CSV import).", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys under the keys directory.", no_args_is_help=True)
clients_app = typer.Typer(help="Registered relying parties.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
sms_app = typer.Typer(help="The development SMS outbox.", no_args_is_help=True)
locks_app = typer.Typer(help="Login back-offs and lockouts.", no_args_is_help=True)
accounts_app = typer.Typer(help="Citizen accounts: status, lock and unlock (audited as the operator).",
                           no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.add_typer(db_app, name="db")
app.add_typer(sms_app, name="sms")
app.add_typer(locks_app, name="locks")
app.add_typer(accounts_app, name="accounts")
console = Console()


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _print_demo(credentials: dict[str, object], settings: Settings) -> None:
    console.rule("[bold]identity_service — development demo (synthetic data only)")
    console.print(f"Issuer: {settings.issuer}", soft_wrap=True)
    console.print(f"Discovery: {settings.issuer}/.well-known/openid-configuration", soft_wrap=True)
    console.print("Demo clients (client_secret_basic; PKCE S256 required):")
    for client_id, info in credentials["clients"].items():  # type: ignore[attr-defined]
        console.print(f"  {client_id}\n    secret:       {info['client_secret']}\n"
                      f"    redirect_uri: {info['redirect_uri']}\n    scopes:       {info['scopes']}", soft_wrap=True)
    account = credentials.get("account")
    if isinstance(account, dict):
        console.print(f"Demo citizen login: CCCD [bold]{account['cccd']}[/bold] password "
                      f"[bold]{account['password']}[/bold]")
    level2 = credentials.get("account_level2")
    if isinstance(level2, dict):
        console.print(f"Demo level-2 citizen: CCCD [bold]{level2['cccd']}[/bold] password "
                      f"[bold]{level2['password']}[/bold] (second factor: SMS code, read it with "
                      "`identity-service sms outbox`)")
    registrar = credentials.get("registrar")
    if isinstance(registrar, dict):
        console.print(f"Demo registration desk: client {registrar['client_id']} (private_key_jwt), key "
                      f"{registrar['key_file']}; raise an enrolled account to level 2 with", soft_wrap=True)
        console.print("  python -m clients.examples.registrar_desk CCCD --phone PHONE", soft_wrap=True)
    examples = credentials.get("enroll_examples") or []
    if examples:
        console.print("Registry entries you can enroll at /enroll (any phone like 0912345678):")
        for entry in examples:  # type: ignore[attr-defined]
            console.print(f"  {entry['cccd']}  {entry['full_name']}  {entry['birth_date']}")
    outbox = settings.data_dir / "sms_outbox.jsonl"
    console.print(f"SMS codes (development sender): `identity-service sms outbox` or {outbox}", soft_wrap=True)
    console.rule()


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default IDENTITY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default IDENTITY_PORT)."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes."),
) -> None:
    """Migrate the schema, seed the demo (development), and run the provider."""
    if port is not None and "IDENTITY_ISSUER" not in os.environ:
        # Worker processes read the environment: keep the issuer in step with the port.
        os.environ["IDENTITY_ISSUER"] = f"http://localhost:{port}"
    settings = _settings()
    configure_logging(settings.log_level)
    upgrade_database(settings.resolved_database_url)
    if settings.seed_demo and settings.environment is Environment.DEVELOPMENT:
        from identity_service.admin.demo import seed_demo
        from identity_service.security.keys import ensure_development_key
        from identity_service.security.passwords import PasswordHasher

        ensure_development_key(settings.keys_dir)
        engine = make_engine(settings.resolved_database_url)
        hasher = PasswordHasher(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)
        _print_demo(seed_demo(engine, settings, hasher), settings)
        engine.dispose()
    uvicorn.run("identity_service.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, proxy_headers=True, access_log=False,
                log_config=None, server_header=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    settings = _settings()
    upgrade_database(settings.resolved_database_url)
    console.print("schema is up to date")


@registry_app.command("generate")
def registry_generate(
    count: int = typer.Option(1000, "--count", "-n", min=1, help="How many citizens."),
    output: Path = typer.Option(Path("registry.csv"), "--output", "-o", help="CSV file to write."),
    seed: int | None = typer.Option(None, help="Random seed for a reproducible file."),
) -> None:
    """Write synthetic citizens (Faker vi_VN, valid CCCD numbers) to a CSV file."""
    from identity_service.identity.registry_io import generate_registry_csv

    with _progress() as progress:
        task = progress.add_task("generating", total=count)
        generate_registry_csv(output, count, seed=seed, progress=lambda n: progress.update(task, completed=n))
    console.print(f"wrote {count} citizens to {output}")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console)


@registry_app.command("import")
def registry_import(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    sync: bool = typer.Option(True, help="Afterwards apply the registry to accounts (as `registry sync`)."),
) -> None:
    """Load a registry CSV; report rows accepted and rejected (with reasons); then sync accounts."""
    from identity_service.identity.registry_io import RegistryFileError, import_registry_csv

    settings = _settings()
    upgrade_database(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    with path.open("rb") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
    try:
        with _progress() as progress:
            task = progress.add_task("importing", total=total)
            report = import_registry_csv(engine, path, progress=lambda n: progress.update(task, completed=n))
    except RegistryFileError as exc:
        console.print(f"[red]nothing imported:[/red] {exc}")
        raise typer.Exit(2) from exc
    else:
        console.print(f"accepted: {report.accepted}  rejected: {report.rejected}")
        for reason, count in report.reasons.most_common():
            console.print(f"  {count:>8}  {reason}")
        if sync and report.accepted:
            _sync_accounts(settings, engine)
    finally:
        engine.dispose()
    if report.rejected and not report.accepted:
        raise typer.Exit(1)


def _operator_services(settings: Settings, engine: Any) -> Any:
    """The provider's services on the configured stores: ending sessions and signing back-channel logout
    tokens need its keys, session store and clients. With the embedded in-process store the running
    provider's sessions are out of reach of this process (use Redis to share them)."""
    from identity_service.services import build_services

    return build_services(settings, engine=engine)


def _deliver_logouts(services: Any, deliveries: list[Any]) -> None:
    """Back-channel logout (OIDC Back-Channel Logout 1.0 §2.5) from the command line: sent now, retried."""
    if not deliveries:
        return
    results = asyncio.run(services.backchannel.deliver(deliveries))
    console.print(f"back-channel logout: {sum(results.values())} of {len(results)} client(s) told")


def _sync_accounts(settings: Settings, engine: Any) -> None:
    from identity_service.identity.registry_sync import sync_with_registry

    services = _operator_services(settings, engine)
    report = sync_with_registry(engine, services.account_access,
                                notify=lambda deliveries: _deliver_logouts(services, deliveries))
    console.print(f"accounts changed by the registry: {report.total}")
    for change, count in sorted(report.changes.items()):
        console.print(f"  {count:>8}  {change}")


@registry_app.command("sync")
def registry_sync() -> None:
    """Apply the registry to accounts: expired or revoked card → level 1; deceased → revoked (sessions and
    tokens end). Safe to run at any time (e.g. nightly)."""
    settings = _settings()
    upgrade_database(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        _sync_accounts(settings, engine)
    finally:
        engine.dispose()


@keys_app.command("generate")
def keys_generate(alg: str = typer.Option("RS256", help="RS256 or ES256.")) -> None:
    """Create a new signing key file (0600) in the keys directory."""
    from identity_service.security.keys import generate_key

    key = generate_key(_settings().keys_dir, alg)
    console.print(f"created {key.kid} ({key.alg})")


@keys_app.command("list")
def keys_list() -> None:
    """Show the published keys, which one signs for each algorithm, and their windows."""
    from datetime import UTC, datetime

    from identity_service.security.keys import load_keys

    keyset = load_keys(_settings().keys_dir)
    signing = {keyset.signing_key(alg).kid for alg in keyset.algorithms}

    def when(value: float | None) -> str:
        return "-" if value is None else datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")

    for key in keyset.keys:
        state = "signing" if key.kid in signing else "published"
        console.print(f"{key.kid}  {key.alg}  {state:9}  signs from {when(key.not_before)}  "
                      f"published until {when(key.unpublish_after)}")


@keys_app.command("rotate")
def keys_rotate(
    alg: str = typer.Option("RS256", help="RS256 or ES256."),
    publish_ahead: int = typer.Option(600, min=0, help="Seconds the new key is published before it signs "
                                                        "(longer than any JWKS cache: ours say max-age=300)."),
) -> None:
    """Publish the next key now, sign with it after --publish-ahead, keep the old one until its tokens expire."""
    from identity_service.security.keys import rotate

    settings = _settings()
    keep_after = max(settings.access_token_ttl, settings.id_token_ttl) + 300
    new = rotate(settings.keys_dir, alg, publish_ahead, keep_after)
    console.print(f"created {new.kid} ({new.alg}); it signs in {publish_ahead} s, the previous {alg} key stays "
                  f"published {keep_after} s after that")


@keys_app.command("prune")
def keys_prune() -> None:
    """Delete keys whose publication window has ended."""
    from identity_service.security.keys import prune

    removed = prune(_settings().keys_dir)
    console.print(f"removed {len(removed)} key(s): {' '.join(removed)}" if removed else "nothing to remove")


def _engine() -> Any:
    settings = _settings()
    upgrade_database(settings.resolved_database_url)
    return make_engine(settings.resolved_database_url)


def _print_client(data: dict[str, Any]) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


@clients_app.command("list")
def clients_list() -> None:
    """List registered clients (never their secrets: only hashes are stored)."""
    from identity_service.admin.clients import list_clients

    engine = _engine()
    table = Table("client_id", "name", "auth method", "min level", "redirect URIs")
    for row in list_clients(engine):
        table.add_row(row.client_id, row.name, row.token_endpoint_auth_method, str(row.min_level),
                      " ".join(row.redirect_uris))
    engine.dispose()
    console.print(table)


@clients_app.command("add")
def clients_add(
    name: str = typer.Option(..., help="Display name shown on the consent page."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Exact redirect URI (repeatable)."),
    post_logout_redirect_uri: list[str] = typer.Option([], "--post-logout-redirect-uri", help="Repeatable."),
    scope: list[str] = typer.Option(["openid"], "--scope", help="Allowed scope (repeatable)."),
    grant_type: list[str] = typer.Option(["authorization_code", "refresh_token"], "--grant-type"),
    auth_method: str = typer.Option("client_secret_basic", help="client_secret_basic, client_secret_post, "
                                                                "private_key_jwt or none."),
    jwks_file: Path | None = typer.Option(None, exists=True, dir_okay=False, help="Public JWKS (private_key_jwt)."),
    client_id: str | None = typer.Option(None, help="Generated when omitted."),
    min_level: int = typer.Option(1, min=1, max=2),
    require_par: bool = typer.Option(False, help="Only accept pushed authorization requests."),
    id_token_alg: str = typer.Option("RS256", help="RS256 or ES256."),
    backchannel_logout_uri: str | None = typer.Option(None),
) -> None:
    """Register a client; a client secret is printed once (only its hash is stored)."""
    from pydantic import ValidationError

    from identity_service.admin.clients import ClientExists, ClientSpec, describe, register_client

    try:
        spec = ClientSpec.model_validate({
            "client_id": client_id, "name": name, "redirect_uris": redirect_uri,
            "post_logout_redirect_uris": post_logout_redirect_uri, "scopes": scope, "grant_types": grant_type,
            "token_endpoint_auth_method": auth_method, "min_level": min_level, "require_par": require_par,
            "jwks": json.loads(jwks_file.read_text()) if jwks_file else None,
            "id_token_signed_response_alg": id_token_alg, "backchannel_logout_uri": backchannel_logout_uri})
        engine = _engine()
        row, secret = register_client(engine, spec)
        engine.dispose()
    except ValidationError as exc:
        for error in exc.errors():
            console.print(f"[red]invalid:[/red] {'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
        raise typer.Exit(2) from exc
    except ClientExists as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    _print_client(describe(row))
    if secret:
        console.print(f"client_secret (shown once): {secret}", soft_wrap=True)


@clients_app.command("show")
def clients_show(client_id: str) -> None:
    """Show one client's registration."""
    from identity_service.admin.clients import ClientNotFound, describe, get_client

    engine = _engine()
    try:
        _print_client(describe(get_client(engine, client_id)))
    except ClientNotFound as exc:
        console.print(f"[red]no client {client_id}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@clients_app.command("update")
def clients_update(
    client_id: str,
    set_: list[str] = typer.Option([], "--set", help="field=value; lists as JSON, e.g. redirect_uris='[\"https://a/cb\"]'."),
) -> None:
    """Change fields of a registration (validated like a new one)."""
    from pydantic import ValidationError

    from identity_service.admin.clients import ClientNotFound, describe, update_client

    changes: dict[str, Any] = {}
    for item in set_:
        field, _, raw = item.partition("=")
        try:
            changes[field] = json.loads(raw)
        except ValueError:
            changes[field] = raw
    engine = _engine()
    try:
        _print_client(describe(update_client(engine, client_id, changes)))
    except ClientNotFound as exc:
        console.print(f"[red]no client {client_id}[/red]")
        raise typer.Exit(1) from exc
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]invalid:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


@clients_app.command("rotate-secret")
def clients_rotate_secret(client_id: str) -> None:
    """Issue a new secret; the old one stops working at once."""
    from identity_service.admin.clients import ClientNotFound, rotate_client_secret

    engine = _engine()
    try:
        console.print(f"client_secret (shown once): {rotate_client_secret(engine, client_id)}", soft_wrap=True)
    except ClientNotFound as exc:
        console.print(f"[red]no client {client_id}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@clients_app.command("remove")
def clients_remove(client_id: str, yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Remove a client with its consents and refresh tokens."""
    from identity_service.admin.clients import ClientNotFound, remove_client

    if not yes and not typer.confirm(f"Remove {client_id} and every grant it holds?"):
        raise typer.Exit(1)
    engine = _engine()
    try:
        remove_client(engine, client_id)
    except ClientNotFound as exc:
        console.print(f"[red]no client {client_id}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(f"removed {client_id}")


@locks_app.command("list")
def locks_list() -> None:
    """Numbers in a login back-off now, and accounts locked after too many failed logins."""
    from identity_service.security.rate_limits import RateLimiter
    from identity_service.storage.ephemeral import make_store
    from identity_service.storage.models import Account

    settings = _settings()
    limiter = RateLimiter(make_store(settings.redis_url, settings.redis_prefix))
    for cccd, seconds in limiter.blocked():
        console.print(f"back-off  {cccd}  {seconds} s left")
    engine = _engine()
    with Session(engine) as session:
        for account in session.exec(select(Account).where(Account.status == "locked")):
            console.print(f"locked    {account.cccd}  {account.status_reason or ''}")
    engine.dispose()


@locks_app.command("clear")
def locks_clear(
    cccd: str,
    unlock: bool = typer.Option(False, help="Also unlock an account locked after too many failed logins."),
) -> None:
    """Forget failed logins for a number; with --unlock, reactivate its account (audited)."""
    from identity_service.identity.account_status import StatusAction
    from identity_service.security.rate_limits import RateLimiter
    from identity_service.storage.ephemeral import make_store
    from identity_service.storage.models import Account

    settings = _settings()
    RateLimiter(make_store(settings.redis_url, settings.redis_prefix)).clear(cccd)
    if unlock:
        engine = _engine()
        with Session(engine) as session:
            account = session.exec(select(Account).where(Account.cccd == cccd)).first()
        engine.dispose()
        if account is None or account.status_reason != "too_many_failed_logins":
            console.print("no account locked for failed logins under that number")
        else:
            _change_status(cccd, StatusAction.UNLOCK, None)  # the operator's unlock, audited as such
    console.print("failed-login counters cleared")


def _valid_cccd(cccd: str) -> str:
    from identity_service.identity.cccd import InvalidCccd, parse_cccd

    try:
        parse_cccd(cccd)
    except InvalidCccd as exc:
        console.print(f"[red]invalid number:[/red] {exc}")
        raise typer.Exit(2) from exc
    return cccd


@accounts_app.command("show")
def accounts_show(cccd: str) -> None:
    """An account's level, status, status reason and second factors (no other personal data)."""
    from sqlmodel import col, func

    from identity_service.storage.models import Account, RecoveryCode, SecondFactor

    _valid_cccd(cccd)
    engine = _engine()
    try:
        with Session(engine) as session:
            account = session.exec(select(Account).where(Account.cccd == cccd)).first()
            if account is None:
                console.print("no account for this number")
                raise typer.Exit(1)
            apps = session.exec(select(func.count()).select_from(SecondFactor).where(
                SecondFactor.account_id == account.id, col(SecondFactor.confirmed_at).is_not(None))).one()
            codes = session.exec(select(func.count()).select_from(RecoveryCode).where(
                RecoveryCode.account_id == account.id, col(RecoveryCode.used_at).is_(None))).one()
    finally:
        engine.dispose()
    verified = account.level_verified_at.date().isoformat() if account.level_verified_at else "-"
    console.print(f"level:          {account.level} (verified in person: {verified})")
    console.print(f"status:         {account.status}")
    console.print(f"status reason:  {account.status_reason or '-'}")
    console.print(f"second factors: {apps} authenticator app(s), {codes} recovery code(s) left, SMS to the "
                  "account's phone")


def _change_status(cccd: str, action: Any, reason: str | None) -> None:
    from identity_service.identity.account_status import StatusChangeRefused, change_status_by_operator

    _valid_cccd(cccd)
    settings = _settings()
    engine = _engine()
    try:
        services = _operator_services(settings, engine)
        outcome = change_status_by_operator(services.account_access, cccd, action, reason)
    except StatusChangeRefused as exc:
        console.print(f"[red]refused ({exc.reason}):[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(f"account {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))
    _deliver_logouts(services, list(outcome.logouts))


@accounts_app.command("lock")
def accounts_lock(
    cccd: str,
    reason: str = typer.Option(..., help="citizen_request, card_revoked, deceased or authority_request."),
) -> None:
    """Lock an account: login refused with the reason; sessions, tokens end; clients are told (audited)."""
    from identity_service.identity.account_status import StatusAction

    _change_status(cccd, StatusAction.LOCK, reason)


@accounts_app.command("unlock")
def accounts_unlock(cccd: str) -> None:
    """Unlock a locked account (not one locked as deceased); old sessions and tokens stay ended (audited)."""
    from identity_service.identity.account_status import StatusAction

    _change_status(cccd, StatusAction.UNLOCK, None)


@sms_app.command("outbox")
def sms_outbox(limit: int = typer.Option(10, min=1, help="How many of the newest messages.")) -> None:
    """Show the development SMS sender's outbox (one-time codes for enrollment)."""
    from identity_service.identity.sms import read_outbox

    settings = _settings()
    for message in read_outbox(settings.data_dir / "sms_outbox.jsonl", limit):
        console.print(json.dumps(message, ensure_ascii=False))


def main() -> None:  # pragma: no cover
    logging.captureWarnings(True)
    app()
