"""``hitl-desk rules`` (always-allow rules) and ``hitl-desk audit`` (the hash-chained log).

``register`` only declares the commands; what runs them is imported when one runs, so the CLI
starts as light as before.  Agent text (agent and tool names, patterns) is printed escaped.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add ``rules`` and ``audit`` to the command line (``sub``: cli's subparsers)."""
    p = sub.add_parser("rules", help="list, add or revoke always-allow rules (answered without asking)")
    rs = p.add_subparsers(dest="rules_command", required=True, metavar="RULES_COMMAND")
    r = rs.add_parser("list", help="list the rules: id, agent, tool, kind, pattern")
    r.add_argument("--all", action="store_true", help="include revoked rules")
    r.add_argument("--json", action="store_true", help="print them as a JSON array")
    r = rs.add_parser("add", help="allow one agent's calls of one tool whose argument matches, without asking")
    r.add_argument("--agent", "--agent-name", dest="agent", required=True, metavar="NAME",
                   help="the agent the rule is for (by name)")  # the one spelling, as cli's _agent_option
    r.add_argument("--tool", required=True, help="the tool's exact name (Bash, Edit, …)")
    kinds = r.add_mutually_exclusive_group(required=True)
    kinds.add_argument("--prefix", help="a command's leading words: 'git status' allows 'git status -s', "
                                        "never 'git status; rm …' (no ; & | $ ` ( ) < > \\ in the command)")
    kinds.add_argument("--path", help="an absolute directory: paths inside it, after resolving ..")
    kinds.add_argument("--exact", help="exactly this argument")
    r = rs.add_parser("revoke", help="revoke a rule at once")
    r.add_argument("rule_id", help="the rule's id (rule_…), as 'rules list' shows it")
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser("audit", help="check or export the hash-chained audit log of every decision")
    au = p.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")
    au.add_parser("verify", help="walk the chain; exit 1 and name the first broken entry if it does not hold")
    a = au.add_parser("export", help="print every entry, oldest first")
    a.add_argument("--jsonl", action="store_true", help="one JSON object per line (the only format, and the default)")
    p.set_defaults(func=cmd_audit)


async def cmd_audit(args: argparse.Namespace) -> int:
    """``audit verify|export`` (``hitl_desk.audit_cli``, imported when it runs)."""
    from hitl_desk.audit_cli import cmd_audit as run

    return await run(args)


async def cmd_rules(args: argparse.Namespace) -> int:
    """``rules list|add|revoke``."""
    from hitl_desk.client import RelayClient
    from hitl_desk.display import visible_json, visible_line

    async with RelayClient.for_owner(url=args.url) as client:
        if args.rules_command == "add":
            kind, pattern = next((k, v) for k in ("prefix", "path", "exact") if (v := getattr(args, k)) is not None)
            rule = await client.add_rule(args.agent, args.tool, kind, pattern)  # type: ignore[arg-type]
            print(rule.id)
        elif args.rules_command == "revoke":
            rule = await client.revoke_rule(args.rule_id)
            print(f"revoked {rule.id}")
        else:
            rules = await client.list_rules(include_revoked=args.all)
            if args.json:
                print(visible_json([r.model_dump(mode="json") for r in rules], indent=2))
            for rule in [] if args.json else rules:
                state = "  (revoked)" if rule.revoked_at else ""
                print(f"{rule.id}  {visible_line(rule.agent_name)}  {visible_line(rule.tool)}  {rule.kind}  "
                      f"{visible_line(rule.pattern)}  by {visible_line(rule.created_by)}{state}")
            if not rules and not args.json:
                print("no rules", file=sys.stderr)
    return 0
