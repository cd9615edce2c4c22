"""``identity-client verify TOKEN --issuer URL [--audience A] [--level 2] [--id-token]``.

Prints the verified claims as JSON, or the precise reason verification failed (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys

from identity_client.errors import IdentityError
from identity_client.verifier import TokenVerifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="identity-client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify a token and print its claims")
    verify.add_argument("token", help="the JWT ('-' reads it from standard input)")
    verify.add_argument("--issuer", required=True, help="the provider's issuer URL")
    verify.add_argument("--audience", help="expected aud (your client_id); omitted: not checked")
    verify.add_argument("--level", type=int, choices=(1, 2), help="required identity level")
    verify.add_argument("--id-token", action="store_true", help="verify as an ID token, not an access token")
    verify.add_argument("--nonce", help="expected nonce (ID tokens)")
    args = parser.parse_args(argv)
    token = sys.stdin.read().strip() if args.token == "-" else args.token.strip()
    verifier = TokenVerifier(args.issuer, audience=args.audience)
    try:
        if args.id_token:
            identity = verifier.verify_id_token(token, nonce=args.nonce, level=args.level)
        else:
            identity = verifier.verify_access_token(token, level=args.level)
    except IdentityError as exc:
        print(f"invalid: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"level": identity.level, "claims": dict(identity.claims)}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
