"""The command line as an approver: ``pending``, ``answer``, ``watch`` and ``keys``.

Each command is a view over ``hitl_desk.approver.Approver``: it ensures the desk key (made on
first use when no approver has made one yet), opens each encrypted request once and seals the
answers; a request this machine cannot read is listed as such, never answered in plaintext.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hitl_desk.action import describe
from hitl_desk.approver import Approver
from hitl_desk.client import RelayClient
from hitl_desk.crypto import fingerprint
from hitl_desk.device_client import approver_client
from hitl_desk.display import visible_json, visible_line
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.keystore import TrustStore, agent_key_path, desk_key_path, load_keypair
from hitl_desk.models import HitlRequest
from hitl_desk.reading import LOCK, why_gone
from hitl_desk.settings import Settings


@asynccontextmanager
async def desk_session(url: str | None) -> AsyncIterator[Approver]:
    """The approver core on the owner's client (a paired device's on a paired machine), the desk
    key ensured (made by the first approver)."""
    settings = Settings.from_env()
    async with approver_client(settings, url, via="cli") as client:
        approver = Approver(client, settings)
        await approver.ensure_desk()
        yield approver


def shown(request: HitlRequest, approver: Approver) -> tuple[HitlRequest, str]:
    """The request as an approver shows it, and its marker (``🔒``, a first-use key's
    fingerprint, or why it cannot be read, with the command that fixes it)."""
    view = approver.view(request)
    if not view.sealed:
        return request, ""
    if view.problem is not None:
        return request, f"{LOCK} cannot read: {view.detail}"
    return view.request, view.marker.strip()  # "🔒", or "🔒 … ·" before the text


def _why(request: HitlRequest) -> str:
    reason = why_gone(request)
    return f"  ({reason})" if reason else ""


def _line(request: HitlRequest, marker: str) -> str:
    """One request on one line; agent text escaped so it cannot act on the terminal."""
    # Only a real line break ends the first line: \r, \x1c or U+2028 must not hide what follows.
    lines = request.prompt.split("\n")
    first = visible_line(lines[0][:60]) + ("…" if len(lines) > 1 or len(lines[0]) > 60 else "")
    choices = f"  [{' | '.join(visible_line(c) for c in request.choices)}]" if request.choices else ""
    text = f"{visible_line(marker)} {first}".strip() if marker else first
    action = f"  ⚙ {describe(request.action, 120)}" if request.action else ""
    return f"{request.id}  {request.kind:<10} {visible_line(request.agent_name):<16} {text}{choices}{action}"


async def cmd_pending(args: argparse.Namespace) -> int:
    """List pending requests, decrypted where this machine holds the desk key."""
    async with desk_session(args.url) as approver:
        found = [shown(r, approver) for r in await approver.client.list_requests("pending")]
    if not found:
        print("no pending requests", file=sys.stderr)  # stdout stays data: empty, or [] with --json
    if args.json:
        print(visible_json([dict(r.model_dump(mode="json"), marker=m) for r, m in found], indent=2))
        return 0
    for request, marker in found:
        print(_line(request, marker))
    return 0


async def cmd_answer(args: argparse.Namespace) -> int:
    """Answer a pending request (sealed for the agent when the request is encrypted)."""
    async with desk_session(args.url) as approver:
        request = await approver.client.get_request(args.request_id)
        done = await approver.answer(request, args.text)  # refuses what this machine cannot read
    print(f"answered {done.id}{' (sealed)' if done.encrypted else ''}", file=sys.stderr)
    return 0


async def cmd_watch(args: argparse.Namespace) -> int:
    """Print the event stream, one line per event, decrypted where possible."""
    async with desk_session(args.url) as approver:
        async for event in approver.client.event_stream(args.since):
            request, marker = shown(event.request, approver)
            if args.json:
                print(visible_json({"seq": event.seq, "type": event.type, "marker": marker,
                                    "request": request.model_dump(mode="json")}), flush=True)
            else:
                print(f"{event.seq:>6} {event.type:<18} {_line(request, marker)}{_why(request)}", flush=True)
    return 0


async def cmd_keys(args: argparse.Namespace) -> int:
    """API keys (create, list, revoke) and E2EE keys (fingerprint, trust, register-desk)."""
    settings = Settings.from_env()
    if args.keys_command == "fingerprint":
        return await _fingerprints(args, settings)
    if args.keys_command == "trust-desk":  # an agent-side pin: any credential may read the desk key
        async with RelayClient.for_agent(settings, args.url) as client:
            served = await client.desk_public_key()
        TrustStore(settings).trust_desk(served)
        print(f"trusting desk key {fingerprint(served)}", file=sys.stderr)
        return 0
    async with RelayClient.for_owner(settings, args.url) as client:
        if args.keys_command == "create":
            created = await client.create_api_key(args.agent, args.label)
            print(created.api_key)
            print(f"Key for agent {created.agent_name!r} ({created.prefix}…). It is shown only now.",
                  file=sys.stderr)
        elif args.keys_command == "list":
            for key in await client.list_api_keys():
                state = "revoked" if key.revoked_at else "active"
                used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
                print(f"{key.prefix}  {visible_line(key.agent_name):<20} {state:<8} last used {used}")
        elif args.keys_command == "revoke":
            revoked = await client.revoke_api_key(args.prefix)
            print(f"revoked {revoked.prefix}", file=sys.stderr)
        elif args.keys_command == "trust-agent":
            await _trust_agent(client, settings, args.agent_id)
        else:
            desk = await DeskEncryption.ensure(client, settings, replace=args.replace)
            assert desk.keys is not None or not args.replace
            state = fingerprint(desk.keys.public_key) if desk.keys else "no desk key on this machine"
            print(f"desk key {state}", file=sys.stderr)
    return 0


async def _trust_agent(client: RelayClient, settings: Settings, agent_id: str) -> None:
    """Pin the key the agent's pending requests carry, or let its next request pin one."""
    pending = [r for r in await client.list_requests("pending", limit=10_000)
               if r.agent_id == agent_id and r.agent_public_key]
    if pending:
        newest = pending[-1]
        assert newest.agent_public_key is not None
        TrustStore(settings).trust_agent(agent_id, newest.agent_public_key, newest.agent_name)
        print(f"trusting agent {agent_id} with key {fingerprint(newest.agent_public_key)}", file=sys.stderr)
        return
    TrustStore(settings).trust_agent(agent_id, None)
    print(f"forgot the pinned key of {agent_id}; its next request pins the key it uses", file=sys.stderr)


async def _fingerprints(args: argparse.Namespace, settings: Settings) -> int:
    rows: list[tuple[str, str]] = []
    for label, path in (("this machine's desk key", desk_key_path(settings)),
                        ("this machine's agent key", agent_key_path(settings))):
        pair = load_keypair(path)
        rows.append((label, fingerprint(pair.public_key) if pair else "none"))
    async with RelayClient.for_agent(settings, args.url) as client:
        served = await client.desk_public_key(missing_ok=True)
    rows.append(("desk key served by the relay", fingerprint(served) if served else "none"))
    for label, value in rows:
        print(f"{label:<30} {value}")
    return 0
