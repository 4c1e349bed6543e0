"""``hitl-desk discover``: list the hitl-desk relays advertised on the LAN over mDNS.

Each relay is one line: its LAN URL, the desk key's fingerprint (compare it with the desk's
``hitl-desk keys fingerprint`` before pairing) and its advertised name.  Everything shown came
from the network, so it passes through ``visible_line``.  ``--watch`` prints changes as they
happen until interrupted.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitl_desk.discovery import FoundRelay


def describe(relay: FoundRelay) -> str:
    """One line for a relay, every part of it escaped (names and TXT values are anyone's to choose)."""
    from hitl_desk.display import visible_line

    fp = visible_line(relay.fingerprint) if relay.fingerprint else "(no desk key yet)"
    return f"{visible_line(relay.url)}  fp {fp}  {visible_line(relay.name)}"


def as_json(relay: FoundRelay) -> dict[str, Any]:
    """A relay as a JSON object (json.dumps escapes what it must)."""
    return {"name": relay.name, "url": relay.url, "addresses": list(relay.addresses), "port": relay.port,
            "fingerprint": relay.fingerprint, "version": relay.version, "path": relay.path}


async def cmd_discover(args: argparse.Namespace) -> int:
    """Browse for relays and print them; exit 1 when none answered."""
    from contextlib import aclosing

    from hitl_desk.discovery import browse, watch

    if args.watch:
        async with aclosing(watch(args.interface)) as changes:
            async for change, relay in changes:
                line = json.dumps({"change": change, **as_json(relay)}) if args.json else f"{change}  {describe(relay)}"
                print(line, flush=True)
        return 0
    found = await browse(args.interface, timeout=args.timeout, count=args.count)
    if args.json:
        print(json.dumps([as_json(relay) for relay in found]))
    else:
        for relay in found:
            print(describe(relay))
    if not found:
        import sys

        print(f"hitl-desk: no relay answered within {args.timeout:g} s", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    """Add ``discover`` to the CLI."""
    p = sub.add_parser("discover", help="list hitl-desk relays on the LAN (mDNS) with their key fingerprints")
    p.add_argument("--timeout", type=float, default=2.0, metavar="S", help="seconds to listen for answers (default 2)")
    p.add_argument("--count", type=int, metavar="N", help="stop as soon as N relays are found")
    p.add_argument("--interface", action="append", metavar="ADDR",
                   help="this machine's address to look from (repeatable; default: its LAN addresses)")
    p.add_argument("--watch", action="store_true", help="print relays as they appear, change and go")
    p.add_argument("--json", action="store_true", help="print JSON (an array; with --watch one object a line)")
    p.set_defaults(func=cmd_discover)
