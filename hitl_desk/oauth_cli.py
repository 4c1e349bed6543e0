"""``hitl-desk login`` / ``logout`` (this machine's agent commands and SDK signed in with OAuth) and
``hitl-desk oauth list|revoke`` (the owner's list of authorised OAuth clients)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_NAME = "hitl-desk CLI"


async def cmd_login(args: argparse.Namespace) -> int:
    """Sign in through the browser and the human's consent; keep the token (0600) in HITL_HOME."""
    from hitl_desk.login import login
    from hitl_desk.settings import Settings
    from hitl_desk.signin import token_path

    settings = Settings.from_env()
    url = (args.url or settings.server_url).rstrip("/")
    record = await login(settings, url, args.name, open_browser=not args.no_browser, timeout=args.timeout)
    print(token_path(settings))
    print(f"hitl-desk: signed in to {url} as agent {args.name!r} (scopes: {record.get('scope')}); agent "
          "commands and the SDK use this sign-in when HITL_API_KEY is not set.", file=sys.stderr)
    return 0


async def cmd_logout(args: argparse.Namespace) -> int:
    """Revoke the stored sign-in at the relay and forget it."""
    from hitl_desk.login import logout
    from hitl_desk.settings import Settings

    done = await logout(Settings.from_env())
    print("hitl-desk: signed out." if done else "hitl-desk: not signed in.", file=sys.stderr)
    return 0


async def cmd_oauth(args: argparse.Namespace) -> int:
    """List authorised OAuth clients, or revoke one (every grant it holds)."""
    from hitl_desk.client import RelayClient
    from hitl_desk.display import visible_line

    async with RelayClient.for_owner(url=args.url) as client:
        if args.oauth_command == "revoke":
            revoked = await client.revoke_oauth_client(args.client_id)
            print(f"{revoked.client_id}  {revoked.revoked_grants} grant(s) revoked")
            return 0
        for row in await client.list_oauth_clients():
            print(f"{row.client_id}  {visible_line(row.client_name or '-')}  agent {visible_line(row.agent_name)}  "
                  f"{' '.join(row.scopes)}  since {row.authorized_at:%Y-%m-%d %H:%M}")
    return 0


def register(sub: Any) -> None:
    """Add ``login``, ``logout`` and ``oauth`` to the CLI."""
    p = sub.add_parser("login", help="sign this machine's agent commands and SDK in with OAuth (asks the human)")
    p.add_argument("--name", default=DEFAULT_NAME, help="the agent name to sign in as, as the human sees it")
    p.add_argument("--no-browser", action="store_true", help="only print the address to open")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the sign-in to finish")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="revoke this machine's OAuth sign-in and forget it")
    p.set_defaults(func=cmd_logout)
    p = sub.add_parser("oauth", help="list or revoke the OAuth clients the human authorised")
    os_ = p.add_subparsers(dest="oauth_command", required=True, metavar="OAUTH_COMMAND")
    os_.add_parser("list", help="authorised clients, their agent and scopes")
    r = os_.add_parser("revoke", help="revoke a client: its tokens are refused from now on")
    r.add_argument("client_id", help="the client id from `oauth list`")
    p.set_defaults(func=cmd_oauth)
