"""``hitl-desk audit verify`` walks the audit chain; ``audit export --jsonl`` prints it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator

from hitl_desk.audit import AuditEntry, ChainCheck
from hitl_desk.client import RelayClient
from hitl_desk.display import visible_json
from hitl_desk.exitcode import EXIT_ERROR


async def entries(client: RelayClient) -> AsyncIterator[AuditEntry]:
    """Every audit entry, oldest first, a page at a time."""
    after: int | None = 0
    while after is not None:
        page = await client.audit_page(after)
        for entry in page.entries:
            yield entry
        after = page.next_after


async def cmd_audit(args: argparse.Namespace) -> int:
    """``audit verify``: exit 0 when the chain holds, 1 naming the first broken entry; ``audit export``."""
    async with RelayClient.for_owner(url=args.url) as client:
        if args.audit_command == "export":
            async for entry in entries(client):
                # Escaped like pending --json: it parses to the same data, and prints no control character.
                print(visible_json(entry.model_dump(mode="json")))
            return 0
        check = ChainCheck()
        async for entry in entries(client):
            if check.feed(entry) is not None:
                break
    if check.broken is not None:
        print(f"hitl-desk: the audit chain is broken at entry {check.broken.seq}: {check.broken.reason}; "
              f"{check.count} entries before it hold.", file=sys.stderr)
        return EXIT_ERROR
    print(f"{check.count} entries, head {check.head}")
    print("hitl-desk: the audit chain holds (keep the head elsewhere to also catch removed newest entries).",
          file=sys.stderr)
    return 0
