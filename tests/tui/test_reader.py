"""RequestReader opens each encrypted request once and turns every failure into a reason to show."""

from __future__ import annotations

from pathlib import Path

from hitl_desk.crypto import bind, seal_json
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.settings import Settings
from tests.tui.snapshot_data import DESK_KEYS, NOW, desk_home, keypair, request, sealed
from tui.reader import LOCK, RequestReader


def reader_in(home: Path) -> RequestReader:
    """A reader with the fixed desk key in ``home``."""
    return RequestReader(DeskEncryption.load(desk_home(home)))


def test_plain_requests_pass_through_unmarked(tmp_path: Path) -> None:
    plain = request(1, "cursor", "Merge it?", minutes_ago=1)
    view = reader_in(tmp_path).view(plain)
    assert view.request is plain and not view.sealed and view.line == "Merge it?"


def test_encrypted_request_is_opened_once_and_marked(tmp_path: Path) -> None:
    reader = reader_in(tmp_path)
    asked = sealed(1, "cursor", "Merge   it?", minutes_ago=1, choices=("Yes", "No"))
    view = reader.view(asked)
    assert (view.request.prompt, view.request.choices, view.line) == ("Merge   it?", ["Yes", "No"], f"{LOCK} Merge it?")
    assert view.readable and view.bound and asked.prompt == ""
    assert reader.view(asked) is view  # a redraw is a lookup


def test_answered_encrypted_request_shows_the_decrypted_answer(tmp_path: Path) -> None:
    settings = desk_home(tmp_path)
    desk = DeskEncryption.load(settings)
    reader = RequestReader(desk)
    asked = sealed(1, "cursor", "Which branch?", minutes_ago=1)
    assert reader.view(asked).request.response is None
    answered = asked.model_copy(update={"status": "answered", "closed_at": NOW,
                                        "encrypted_response": desk.seal_answer(asked, "main")})
    view = reader.view(answered)
    assert (view.request.prompt, view.request.response, view.request.status) == ("Which branch?", "main", "answered")


def test_unbound_envelope_is_readable_but_flagged_unverified(tmp_path: Path) -> None:
    view = reader_in(tmp_path).view(sealed(1, "cursor", "From hitl-cli", minutes_ago=1, unbound=True))
    assert view.readable and not view.bound
    assert view.line == f"{LOCK} unverified envelope · From hitl-cli"


def test_replayed_envelope_cannot_be_read(tmp_path: Path) -> None:
    view = reader_in(tmp_path).view(sealed(1, "cursor", "x", minutes_ago=1, bound_to=f"req_{2:020d}"))
    assert not view.readable and view.line == f"{LOCK} cannot read: replayed or swapped envelope"
    assert view.request.prompt == "" and view.request.choices == []


def test_tampered_envelope_cannot_be_read(tmp_path: Path) -> None:
    asked = sealed(1, "cursor", "x", minutes_ago=1)
    payload = asked.encrypted_payload or ""
    flipped = payload[:40] + ("A" if payload[40] != "A" else "B") + payload[41:]
    view = reader_in(tmp_path).view(asked.model_copy(update={"encrypted_payload": flipped}))
    assert view.line == f"{LOCK} cannot read: wrong key or tampered"


def test_changed_agent_key_cannot_be_read_and_says_how_to_re_trust(tmp_path: Path) -> None:
    reader = reader_in(tmp_path)
    assert reader.view(sealed(1, "cursor", "pins the key", minutes_ago=2)).readable
    impostor = keypair(9)
    asked = request(2, "cursor", "", minutes_ago=1)
    payload = seal_json(impostor.box(DESK_KEYS.public_key), bind(asked.id, {"prompt": "new key"},
                                                                  now=asked.created_at.timestamp()))
    view = reader.view(asked.model_copy(update={"encrypted_payload": payload,
                                                "agent_public_key": impostor.public_key}))
    assert view.line == f"{LOCK} cannot read: the agent's key changed"
    assert view.detail is not None and f"hitl-desk keys trust-agent {asked.agent_id}" in view.detail


def test_approver_without_the_desk_key_says_so(tmp_path: Path) -> None:
    for reader in (RequestReader(None), RequestReader(DeskEncryption.load(Settings(home=tmp_path / "empty")))):
        view = reader.view(sealed(1, "cursor", "secret", minutes_ago=1))
        assert not reader.has_desk_key
        assert view.line == f"{LOCK} cannot read: no desk key on this approver"
        assert view.detail is not None and "desk key" in view.detail


def test_failures_are_tried_again_after_a_re_trust(tmp_path: Path) -> None:
    settings = desk_home(tmp_path)
    reader = RequestReader(DeskEncryption.load(settings))
    reader.view(sealed(1, "cursor", "pin", minutes_ago=2))
    rotated = keypair(9)
    asked = request(2, "cursor", "", minutes_ago=1)
    payload = seal_json(rotated.box(DESK_KEYS.public_key), bind(asked.id, {"prompt": "after re-trust"},
                                                                 now=asked.created_at.timestamp()))
    asked = asked.model_copy(update={"encrypted_payload": payload, "agent_public_key": rotated.public_key})
    assert not reader.view(asked).readable
    DeskEncryption.load(settings).trust.trust_agent(asked.agent_id, rotated.public_key)
    assert not reader.view(asked).readable  # remembered until the next sync
    reader.forget_failures()
    assert reader.view(asked).line == f"{LOCK} after re-trust"
