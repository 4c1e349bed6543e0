"""The agent side of ``hitl-desk``: ``request``, ``notify``, ``notify-completion`` and ``cancel``.

A waiting command that gets Ctrl+C withdraws its question first (approvers see it go as
``agent_cancelled``), then exits 130.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from hitl_desk.errors import HitlError
from hitl_desk.exitcode import EXIT_USAGE, exit_code

if TYPE_CHECKING:
    from hitl_desk.client import RelayClient
    from hitl_desk.models import HitlRequest

T = TypeVar("T")


def _e2ee(args: argparse.Namespace) -> bool:
    from hitl_desk.settings import Settings

    return bool(args.e2ee) or Settings.from_env().e2ee


async def _ask_sealed(args: argparse.Namespace, prompt: str, **kwargs: Any) -> int:
    from hitl_desk.client import RelayClient
    from hitl_desk.e2ee import AgentEncryption
    from hitl_desk.settings import Settings

    settings = Settings.from_env()
    async with RelayClient.for_agent(settings, args.url) as client:
        created: list[HitlRequest] = []

        def on_created(request: HitlRequest) -> None:
            created.append(request)
            _say_if_capped(args.timeout, request)

        answer = await withdrawn_on_interrupt(client, created, AgentEncryption(client, settings, args.agent_name).ask(
            prompt, on_created=on_created, **kwargs))
    print(answer)
    return 0


def _say_if_capped(asked: float | None, created: HitlRequest) -> None:
    """One stderr line when the relay shortened the asked ``--timeout`` (its expiry is the answer)."""
    if asked is None or created.expires_at is None:
        return
    effective = (created.expires_at - created.created_at).total_seconds()
    if effective < asked - 0.5:  # rounding of the stored times is not a cap
        print(f"hitl-desk: the relay caps waiting at {effective:g} s; this request expires in {effective:g} s, "
              f"not {asked:g} s", file=sys.stderr)


async def cmd_request(args: argparse.Namespace) -> int:
    """Ask the human; print only the answer."""
    from hitl_desk.client import RelayClient, answer_deadline

    if args.choice and args.default_answer is not None and args.default_answer not in args.choice:
        print(f"hitl-desk: --default-answer {args.default_answer!r} is not one of the --choice values",
              file=sys.stderr)
        return EXIT_USAGE
    if _e2ee(args):
        return await _ask_sealed(args, args.prompt, choices=args.choice, placeholder=args.placeholder_text,
                                 timeout_seconds=args.timeout)
    async with RelayClient.for_agent(url=args.url) as client:
        created: list[HitlRequest] = []

        async def ask() -> HitlRequest:
            created.append(await client.create_request(
                args.prompt, choices=args.choice, placeholder_text=args.placeholder_text,
                timeout_seconds=args.timeout, default_answer=args.default_answer, agent_name=args.agent_name))
            _say_if_capped(args.timeout, created[0])
            return await client.wait_for_answer(created[0].id, deadline=answer_deadline(created[0]))

        done = await withdrawn_on_interrupt(client, created, ask())
    if args.json:
        print(json.dumps(done.model_dump(mode="json"), indent=2, ensure_ascii=False))
        failure = done.failure()
        return 0 if done.status == "answered" or failure is None else exit_code(failure)
    print(done.outcome())
    return 0


async def cmd_notify(args: argparse.Namespace) -> int:
    """Send a notification."""
    from hitl_desk.client import RelayClient
    from hitl_desk.settings import Settings

    settings = Settings.from_env()
    async with RelayClient.for_agent(settings, args.url) as client:
        if _e2ee(args):
            from hitl_desk.e2ee import AgentEncryption

            sent = await AgentEncryption(client, settings, args.agent_name).notify(args.message)
        else:
            sent = await client.notify(args.message, agent_name=args.agent_name)
    print(sent.id if args.json is False else json.dumps(sent.model_dump(mode="json")))
    return 0


async def cmd_notify_completion(args: argparse.Namespace) -> int:
    """Report a finished task; print the human's reply."""
    from hitl_desk.client import RelayClient, answer_deadline

    if _e2ee(args):
        return await _ask_sealed(args, args.summary, kind="completion", timeout_seconds=args.timeout)
    async with RelayClient.for_agent(url=args.url) as client:
        created: list[HitlRequest] = []

        async def ask() -> HitlRequest:
            created.append(await client.create_completion(args.summary, timeout_seconds=args.timeout,
                                                          agent_name=args.agent_name))
            _say_if_capped(args.timeout, created[0])
            return await client.wait_for_answer(created[0].id, deadline=answer_deadline(created[0]))

        done = await withdrawn_on_interrupt(client, created, ask())
    print(done.outcome())
    return 0


# -- leaving: Ctrl+C withdraws the question, ``cancel`` withdraws one by id ---------------------

async def withdrawn_on_interrupt(client: RelayClient, created: list[HitlRequest], work: Awaitable[T]) -> T:
    """Run ``work``, which appends the question it asks to ``created``; on Ctrl+C withdraw that
    question (approvers see it go as ``agent_cancelled``), then end with ``KeyboardInterrupt``
    (exit 130)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await task
    except asyncio.CancelledError:
        if not interrupted:
            raise
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl+C stops the withdrawal too
        if not created:  # cut off while asking: the client took the question back itself
            print("hitl-desk: interrupted while asking; the question was taken back", file=sys.stderr)
        for request in created:
            try:
                withdrawn = await client.withdraw(request.id)
            except HitlError as exc:  # the relay is gone too: the request goes after its grace period
                print(f"hitl-desk: interrupted; could not withdraw {request.id}: {exc.message}", file=sys.stderr)
            else:
                print(f"hitl-desk: interrupted; {'withdrew' if withdrawn else 'already closed:'} {request.id}",
                      file=sys.stderr)
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def cmd_cancel(args: argparse.Namespace) -> int:
    """Withdraw a pending request (the asking agent's key or the owner credential)."""
    from hitl_desk.client import RelayClient

    async with RelayClient.for_agent(url=args.url) as client:
        done = await client.cancel(args.request_id, args.reason)
    print(f"cancelled {done.id} ({done.cancel_reason})", file=sys.stderr)
    return 0
