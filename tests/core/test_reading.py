"""RequestReader with real keys and envelopes, no relay: what an approver can read, and how often."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.crypto import KeyChangedError, KeyPair, bind, fingerprint, seal_json
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.keystore import desk_key_path, load_or_create_keypair
from hitl_desk.models import HitlRequest
from hitl_desk.reading import LOCK, NO_DESK_KEY, RequestReader
from hitl_desk.settings import Settings

NOW = datetime.now(UTC)


def desk_home(home: Path) -> Settings:
    """Settings for an approver whose ``home`` holds a desk key (made there)."""
    settings = Settings(home=home)
    load_or_create_keypair(desk_key_path(settings))
    return settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """An approver's home holding the desk key."""
    return desk_home(tmp_path / "desk")


@pytest.fixture
def agent_keys() -> KeyPair:
    """The asking agent's key pair."""
    return KeyPair.generate()


def sealed(settings: Settings, agent: KeyPair, rid: str = "req_1", *, bound_to: str | None = None,
           **body: Any) -> HitlRequest:
    """An encrypted input request from ``agent`` to the desk key in ``settings``.

    ``bound_to``: bind the envelope to another request (a replay); ``""``: hitl-cli's unbound format.
    """
    desk = DeskEncryption.load(settings).keys
    assert desk is not None
    content = {"prompt": "Deploy?", "choices": ["Yes", "No"], "placeholder_text": "", **body}
    data = content if bound_to == "" else bind(bound_to or rid, content, now=NOW.timestamp())
    return HitlRequest(
        id=rid, kind="input", status="pending", agent_id="agt_1", agent_name="claude", prompt="",
        created_at=NOW, encrypted_payload=seal_json(agent.box(desk.public_key), data),
        agent_public_key=agent.public_key, channel="rest",
    )


def test_plain_requests_pass_through_unmarked(settings: Settings) -> None:
    plain = HitlRequest(id="r1", kind="input", status="pending", agent_id="a", agent_name="claude",
                        prompt="Deploy?", created_at=NOW)
    view = RequestReader(DeskEncryption.load(settings)).view(plain)
    assert view.request is plain and not view.sealed and view.line == "Deploy?"
    assert view.readable and view.marker == "" and view.detail == ""


def test_an_encrypted_request_is_opened_once_and_shown_decrypted_and_locked(
    settings: Settings, agent_keys: KeyPair
) -> None:
    reader = RequestReader(DeskEncryption.load(settings))
    request = sealed(settings, agent_keys, prompt="Deploy   now?")
    view = reader.view(request)
    assert (view.request.prompt, view.request.choices) == ("Deploy   now?", ["Yes", "No"])
    first_use = f"new key {fingerprint(agent_keys.public_key)} · "  # this opening pinned the key
    assert view.sealed and view.readable and view.bound and view.line == f"{LOCK} {first_use}Deploy now?"
    assert request.prompt == ""  # what the relay sent stays as it was: it is what gets sealed to
    assert reader.view(request) is view  # a redraw is a lookup
    assert reader.view(request.model_copy(update={"status": "pending"})) is view  # a new snapshot


def test_answered_encrypted_request_shows_the_decrypted_answer(settings: Settings, agent_keys: KeyPair) -> None:
    desk = DeskEncryption.load(settings)
    reader = RequestReader(desk)
    asked = sealed(settings, agent_keys, prompt="Which branch?")
    assert reader.view(asked).request.response is None
    answered = asked.model_copy(update={"status": "answered", "closed_at": NOW,
                                        "encrypted_response": desk.seal_answer(asked, "main")})
    view = reader.view(answered)
    assert (view.request.prompt, view.request.response, view.request.status) == ("Which branch?", "main", "answered")


def test_a_hitl_cli_envelope_without_binding_is_read_and_marked_unverified(
    settings: Settings, agent_keys: KeyPair
) -> None:
    view = RequestReader(DeskEncryption.load(settings)).view(sealed(settings, agent_keys, bound_to=""))
    assert view.readable and not view.bound
    first_use = f"new key {fingerprint(agent_keys.public_key)} · "
    assert view.line == f"{LOCK} unverified envelope · {first_use}Deploy?"


def test_a_different_envelope_under_a_known_id_is_opened_again_and_refused(
    settings: Settings, agent_keys: KeyPair
) -> None:
    reader = RequestReader(DeskEncryption.load(settings))
    assert reader.view(sealed(settings, agent_keys, "req_1")).readable
    view = reader.view(sealed(settings, agent_keys, "req_1", bound_to="req_2"))
    assert not view.readable and view.marker == f"{LOCK} cannot read: replayed or swapped envelope"
    assert view.line == view.marker and view.request.prompt == "" and view.request.choices == []


def test_tampered_envelope_cannot_be_read(settings: Settings, agent_keys: KeyPair) -> None:
    asked = sealed(settings, agent_keys)
    payload = asked.encrypted_payload or ""
    flipped = payload[:40] + ("A" if payload[40] != "A" else "B") + payload[41:]
    view = RequestReader(DeskEncryption.load(settings)).view(asked.model_copy(update={"encrypted_payload": flipped}))
    assert view.line == f"{LOCK} cannot read: wrong key or tampered"


def test_a_changed_agent_key_cannot_be_read_and_says_how_to_re_trust(
    settings: Settings, agent_keys: KeyPair
) -> None:
    reader = RequestReader(DeskEncryption.load(settings))
    assert reader.view(sealed(settings, agent_keys, "req_1")).readable  # pins the agent key
    view = reader.view(sealed(settings, KeyPair.generate(), "req_2"))
    assert view.problem == "the agent's key changed"
    assert view.line == f"{LOCK} cannot read: the agent's key changed"
    assert isinstance(view.error, KeyChangedError) and "hitl-desk keys trust-agent agt_1" in view.detail


def test_approver_without_the_desk_key_says_so(tmp_path: Path, settings: Settings, agent_keys: KeyPair) -> None:
    request = sealed(settings, agent_keys)
    for reader in (RequestReader(None), RequestReader(DeskEncryption.load(Settings(home=tmp_path / "empty")))):
        view = reader.view(request)
        assert not reader.has_desk_key and not view.readable
        assert view.problem == "no desk key on this approver"
        assert view.line == f"{LOCK} cannot read: no desk key on this approver"
        assert view.detail == NO_DESK_KEY and "desk key" in view.detail


def test_failures_are_tried_again_after_a_re_trust(settings: Settings, agent_keys: KeyPair) -> None:
    reader = RequestReader(DeskEncryption.load(settings))
    reader.view(sealed(settings, agent_keys, "req_1"))  # pins the agent key
    rotated = KeyPair.generate()
    asked = sealed(settings, rotated, "req_2", prompt="after re-trust")
    assert not reader.view(asked).readable
    DeskEncryption.load(settings).trust.trust_agent(asked.agent_id, rotated.public_key)
    assert not reader.view(asked).readable  # remembered until the next sync
    reader.forget_failures()
    assert reader.view(asked).line == f"{LOCK} after re-trust"


def test_the_same_desk_key_keeps_what_was_opened_and_another_forgets_it(
    tmp_path: Path, settings: Settings, agent_keys: KeyPair
) -> None:
    desk = DeskEncryption.load(settings)
    reader = RequestReader(desk)
    request = sealed(settings, agent_keys)
    view = reader.view(request)
    reader.use(DeskEncryption.load(settings))
    assert reader.desk is desk and reader.view(request) is view
    reader.use(DeskEncryption.load(desk_home(tmp_path / "other")))
    assert reader.desk is not desk and reader.view(request).problem == "wrong key or tampered"


def test_a_closed_request_is_forgotten_and_opened_again_if_shown(settings: Settings, agent_keys: KeyPair) -> None:
    reader = RequestReader(DeskEncryption.load(settings))
    request = sealed(settings, agent_keys)
    view = reader.view(request)
    reader.forget(request.id)
    again = reader.view(request)
    # Opened again the same way; only the first opening pinned the agent's key.
    assert again is not view and again == replace(view, new_key=None) and view.new_key is not None
