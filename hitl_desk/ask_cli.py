"""The agent side of ``hitl-desk``: ``request``, ``notify``, ``notify-completion`` and ``cancel``.

These run once per agent call, so they start light: the standard library's HTTP client
(``hitl_desk.asker``), no asyncio, aiohttp or pydantic (a test holds them to it).

A waiting command that gets Ctrl+C withdraws its question first (approvers see it go as
``agent_cancelled``), then exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hitl_desk.asker import Asker, Request, answer_deadline, outcome, timestamp
from hitl_desk.errors import HitlError
from hitl_desk.exitcode import EXIT_USAGE, exit_code
from hitl_desk.lifecycle import failure
from hitl_desk.settings import Settings

if TYPE_CHECKING:
    from nacl.public import Box

    from hitl_desk.sealing import AgentSeal, Kind

if TYPE_CHECKING:
    from nacl.public import Box

    from hitl_desk.sealing import AgentSeal, Kind


def _e2ee(args: argparse.Namespace, settings: Settings) -> bool:
    return bool(args.e2ee) or settings.e2ee


def _say_if_capped(asked: float | None, created: Request) -> None:
    """One stderr line when the relay shortened the asked ``--timeout`` (its expiry is the answer)."""
    if asked is None or created.get("expires_at") is None:
        return
    effective = timestamp(created["expires_at"]) - timestamp(created["created_at"])
    if effective < asked - 0.5:  # rounding of the stored times is not a cap
        print(f"hitl-desk: the relay caps waiting at {effective:g} s; this request expires in {effective:g} s, "
              f"not {asked:g} s", file=sys.stderr)


def cmd_request(args: argparse.Namespace) -> int:
    """Ask the human; print only the answer."""
    if args.choice and args.default_answer is not None and args.default_answer not in args.choice:
        print(f"hitl-desk: --default-answer {args.default_answer!r} is not one of the --choice values",
              file=sys.stderr)
        return EXIT_USAGE
    settings = Settings.from_env()
    with Asker.for_agent(settings, args.url) as asker:
        if _e2ee(args, settings):
            print(_ask_sealed(asker, settings, args, "input", args.prompt, choices=args.choice,
                              placeholder=args.placeholder_text))
            return 0
        done = asked(asker, lambda: asker.create("/api/v1/hitl/request", {
            "prompt": args.prompt, "choices": args.choice or None, "placeholder_text": args.placeholder_text,
            "timeout_seconds": args.timeout, "default_answer": args.default_answer,
            "agent_name": args.agent_name}), args.timeout)
    if args.json:
        from hitl_desk.display import visible_json

        print(visible_json(done, indent=2))
        error = failure(done["id"], done["status"], done.get("response"))
        return 0 if done["status"] == "answered" or error is None else exit_code(error)
    print(outcome(done))
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    """Send a notification."""
    settings = Settings.from_env()
    with Asker.for_agent(settings, args.url) as asker:
        if _e2ee(args, settings):
            from hitl_desk.sealing import PATHS, AgentSeal

            seal = AgentSeal(settings, args.agent_name)
            request_id, envelope = seal.seal(_desk_box(asker, seal), "notification", args.message)
            sent = asker.notify(PATHS["notification"], {"encrypted_payload": envelope, "request_id": request_id,
                                                        "agent_name": args.agent_name})
        else:
            sent = asker.notify("/api/v1/hitl/notify", {"message": args.message, "agent_name": args.agent_name})
    if args.json:
        from hitl_desk.display import visible_json

        print(visible_json(sent))
    else:
        print(sent["id"])
    return 0


def cmd_notify_completion(args: argparse.Namespace) -> int:
    """Report a finished task; print the human's reply."""
    settings = Settings.from_env()
    with Asker.for_agent(settings, args.url) as asker:
        if _e2ee(args, settings):
            print(_ask_sealed(asker, settings, args, "completion", args.summary))
            return 0
        done = asked(asker, lambda: asker.create("/api/v1/hitl/complete", {
            "summary": args.summary, "timeout_seconds": args.timeout, "agent_name": args.agent_name}), args.timeout)
    print(outcome(done))
    return 0


# -- sealed end to end (``--e2ee``): the same calls, the content in an envelope for the desk key --

def _desk_box(asker: Asker, seal: AgentSeal) -> Box:
    """The Box for the desk key the relay serves, once it passed this agent's pin."""
    desk_key = asker.desk_public_key()
    box, new = seal.pinned_box(desk_key)
    if new:  # registered each time the desk box is built: the relay accepts re-registration
        asker.register_key(seal.agent_name, seal.keys.public_key)
        seal.keep(desk_key, box)
    return box


def _ask_sealed(asker: Asker, settings: Settings, args: argparse.Namespace, kind: Kind, text: str,
                **content: Any) -> str:
    """Ask with the content sealed; the checked answer (as ``AgentEncryption.ask``, without asyncio)."""
    from hitl_desk.sealing import PATHS, AgentSeal

    seal = AgentSeal(settings, args.agent_name)
    box = _desk_box(asker, seal)
    request_id, envelope = seal.seal(box, kind, text, **content)
    done = asked(asker, lambda: asker.create(PATHS[kind], {
        "encrypted_payload": envelope, "request_id": request_id, "timeout_seconds": args.timeout,
        "agent_name": args.agent_name}), args.timeout)
    outcome(done)  # an expired or cancelled request raises its catalog error here
    return seal.open_answer(box, request_id, done["status"], done.get("encrypted_response"),
                            timestamp(done["created_at"]))


# -- leaving: Ctrl+C withdraws the question, ``cancel`` withdraws one by id ---------------------

def asked(asker: Asker, ask: Callable[[], Request], timeout: float | None) -> Request:
    """Put the question ``ask`` posts and wait for its final state.

    Ctrl+C while the question is on its way is held until the relay has answered (only then
    is its id known), and the question is taken back at once; Ctrl+C while it waits withdraws
    it (approvers see it go as ``agent_cancelled``).  Either ends in ``KeyboardInterrupt``
    (exit 130).
    """
    created: Request | None = None
    held: list[int] = []
    try:  # the try starts before the hold ends: a Ctrl+C as the old handler comes back is caught too
        with _held_interrupt() as held:
            created = ask()
        if held:
            raise KeyboardInterrupt
        _say_if_capped(timeout, created)
        return asker.wait_for_answer(created["id"], deadline=answer_deadline(created))
    except KeyboardInterrupt:
        if created is not None:
            _withdraw(asker, created, "interrupted while asking; the question was taken back" if held else None)
        raise


@contextmanager
def _held_interrupt() -> Iterator[list[int]]:
    """Hold SIGINT for the duration (the list fills if one came); a second one is held too."""
    import signal  # its enums cost a notification a millisecond or two: only waiting commands load it

    held: list[int] = []
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started ignoring Ctrl+C (a background job): keep to it
        yield held
        return
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: held.append(signum))
    except ValueError:  # not the main thread: signals go elsewhere anyway
        yield held
        return
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


def _withdraw(asker: Asker, created: Request, said: str | None) -> None:
    """Withdraw an interrupted question and say so; a second Ctrl+C stops the withdrawal too."""
    try:
        withdrawn = asker.withdraw(created["id"])
    except HitlError as exc:  # the relay is gone too: the request goes after its grace period
        print(f"hitl-desk: interrupted; could not withdraw {created['id']}: {exc.message}", file=sys.stderr)
        return
    if said is not None and withdrawn:
        print(f"hitl-desk: {said}", file=sys.stderr)
    else:
        print(f"hitl-desk: interrupted; {'withdrew' if withdrawn else 'already closed:'} {created['id']}",
              file=sys.stderr)


def cmd_cancel(args: argparse.Namespace) -> int:
    """Withdraw a pending request (the asking agent's key or the owner credential)."""
    with Asker.for_agent(url=args.url) as asker:
        done = asker.cancel(args.request_id, args.reason)
    print(f"cancelled {done['id']} ({done['cancel_reason']})", file=sys.stderr)
    return 0
