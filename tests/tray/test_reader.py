"""RequestReader with real keys and envelopes, no relay: what the tray can read, and how often."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyChangedError, KeyPair, bind, seal_json
from hitl_desk.e2ee import DeskEncryption
from hitl_desk.errors import KeyMissingError
from hitl_desk.keyring import desk_key_path, load_or_create_keypair
from hitl_desk.models import HitlRequest
from hitl_desk.settings import Settings
from tray.reader import LOCK, RequestReader

NOW = datetime.now(UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """An approver's home holding the desk key."""
    home = Settings(home=tmp_path / "desk")
    load_or_create_keypair(desk_key_path(home))
    return home


@pytest.fixture
def agent_keys() -> KeyPair:
    """The asking agent's key pair."""
    return KeyPair.generate()


def sealed(settings: Settings, agent: KeyPair, rid: str = "req_1", *, bound_to: str | None = None,
           **body: Any) -> HitlRequest:
    """An encrypted input request from ``agent`` to the desk key in ``settings``."""
    desk = DeskEncryption.load(settings).keys
    assert desk is not None
    content = {"prompt": "Deploy?", "choices": ["Yes", "No"], "placeholder_text": "", **body}
    data = content if bound_to == "" else bind(bound_to or rid, content)
    return HitlRequest(
        id=rid, kind="input", status="pending", agent_id="agt_1", agent_name="claude", prompt="",
        created_at=NOW, encrypted_payload=seal_json(agent.box(desk.public_key), data),
        agent_public_key=agent.public_key, channel="rest",
    )


def test_an_encrypted_request_is_opened_once_and_shown_decrypted_and_locked(
    settings: Settings, agent_keys: KeyPair
) -> None:
    reader = RequestReader(settings)
    request = sealed(settings, agent_keys)
    view = reader.view(request)
    assert (view.request.prompt, view.request.choices) == ("Deploy?", ["Yes", "No"])
    assert view.sealed and view.readable and view.line == f"{LOCK} Deploy?"
    assert request.prompt == ""  # what the relay sent stays as it was: it is what gets sealed to
    assert reader.view(request) is view
    assert reader.view(request.model_copy(update={"status": "pending"})) is view  # a new snapshot


def test_a_different_envelope_under_a_known_id_is_opened_again_and_refused(
    settings: Settings, agent_keys: KeyPair
) -> None:
    reader = RequestReader(settings)
    assert reader.view(sealed(settings, agent_keys, "req_1")).readable
    swapped = sealed(settings, agent_keys, "req_1", bound_to="req_2")
    view = reader.view(swapped)
    assert not view.readable and view.marker == f"{LOCK} cannot read: replayed or swapped envelope"
    assert view.request.choices == []


def test_a_changed_agent_key_cannot_be_read_until_it_is_trusted_again(
    settings: Settings, agent_keys: KeyPair
) -> None:
    reader = RequestReader(settings)
    assert reader.view(sealed(settings, agent_keys, "req_1")).readable  # pins the agent key
    view = reader.view(sealed(settings, KeyPair.generate(), "req_2"))
    assert view.problem == "the agent's key changed"
    assert isinstance(view.error, KeyChangedError) and "trust-agent" in view.detail


def test_a_hitl_cli_envelope_without_binding_is_read_and_marked_unverified(
    settings: Settings, agent_keys: KeyPair
) -> None:
    view = RequestReader(settings).view(sealed(settings, agent_keys, bound_to=""))
    assert view.readable and not view.bound
    assert view.line == f"{LOCK} unverified envelope · Deploy?"


def test_plain_requests_are_shown_as_they_are(settings: Settings) -> None:
    plain = HitlRequest(id="r1", kind="input", status="pending", agent_id="a", agent_name="claude",
                        prompt="Deploy?", created_at=NOW)
    view = RequestReader(settings).view(plain)
    assert view.request is plain and not view.sealed and view.line == "Deploy?"


async def test_an_unreadable_request_is_not_answered_and_nothing_is_sent(
    tmp_path: Path, settings: Settings, agent_keys: KeyPair
) -> None:
    request = sealed(settings, agent_keys)
    reader = RequestReader(Settings(home=tmp_path / "no-desk-key"))
    assert reader.view(request).problem == "no desk key on this approver"
    async with RelayClient("http://127.0.0.1:9", "unused") as nowhere:  # would fail if called
        with pytest.raises(KeyMissingError, match="does not have the desk key"):
            await reader.answer(nowhere, request, "Yes")
