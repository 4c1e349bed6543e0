"""Key files and trust pins under ``HITL_HOME`` (all 0600).

- ``desk.key``: the human's X25519 key pair, made by the first approver.
- ``agent.key``: this machine's agent key pair (hitl-cli's ``agent.key`` format).
- ``trust.json``: pinned public keys — the desk key as agents first saw it, and each agent's key
  as approvers first saw it.  A changed key is refused until the human re-trusts it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from hitl_desk.crypto import KeyChangedError, KeyPair, fingerprint
from hitl_desk.settings import Settings, write_private

DESK_KEY_FILE = "desk.key"
AGENT_KEY_FILE = "agent.key"
TRUST_FILE = "trust.json"


def load_keypair(path: Path) -> KeyPair | None:
    """A key pair from its file, or None when there is none."""
    try:
        return KeyPair.from_json(path.read_text())
    except FileNotFoundError:
        return None


def load_or_create_keypair(path: Path) -> tuple[KeyPair, bool]:
    """The key pair in ``path``, generated (0600) on first use; the flag says it is new.

    The file is created exclusively, so two approvers starting together on a fresh home (the
    TUI and the tray) end up with the same key: the second one loads what the first wrote.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _wait_for_keypair(path), False
    pair = KeyPair.generate()
    with os.fdopen(fd, "w") as fh:
        fh.write(pair.to_json())
    return pair, True


def _wait_for_keypair(path: Path) -> KeyPair:
    # The other creator may not have written the content yet: it writes 150 bytes at once.
    deadline = time.monotonic() + 2.0
    while True:
        try:
            return KeyPair.from_json(path.read_text())
        except ValueError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)  # polling for the other process's write, under the deadline


def desk_key_path(settings: Settings) -> Path:
    """Where the desk key lives."""
    return settings.home / DESK_KEY_FILE


def agent_key_path(settings: Settings) -> Path:
    """Where this machine's agent key lives."""
    return settings.home / AGENT_KEY_FILE


class TrustStore:
    """Trust on first use: pins the desk key and agent keys, refuses changed ones."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.home / TRUST_FILE

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"desk": None, "agents": {}}
        return data if isinstance(data, dict) else {"desk": None, "agents": {}}

    def _save(self, data: dict[str, Any]) -> None:
        write_private(self.path, json.dumps(data, indent=2, sort_keys=True))

    def check_desk(self, public_key: str) -> None:
        """Pin the desk key on first use; refuse a different one afterwards."""
        data = self._load()
        pinned = data.get("desk")
        if pinned is None:
            data["desk"] = public_key
            self._save(data)
        elif pinned != public_key:
            raise KeyChangedError(
                f"The desk key changed (pinned {fingerprint(pinned)}, offered {fingerprint(public_key)}). "
                "If you replaced it yourself, run: hitl-desk keys trust-desk")

    def trust_desk(self, public_key: str) -> None:
        """Re-pin the desk key (after the human compared fingerprints)."""
        data = self._load()
        data["desk"] = public_key
        self._save(data)

    def check_agent(self, agent_id: str, agent_name: str, public_key: str) -> None:
        """Pin an agent's key on first use; refuse a different one afterwards."""
        data = self._load()
        agents = data.setdefault("agents", {})
        pinned = agents.get(agent_id)
        if pinned is None:
            agents[agent_id] = public_key
            self._save(data)
        elif pinned != public_key:
            raise KeyChangedError(
                f"Agent {agent_name!r} has a new key (pinned {fingerprint(pinned)}, offered "
                f"{fingerprint(public_key)}). If that is expected, run: hitl-desk keys trust-agent {agent_id}")

    def trust_agent(self, agent_id: str, public_key: str | None) -> None:
        """Re-pin (or, with None, forget) an agent's key."""
        data = self._load()
        agents = data.setdefault("agents", {})
        if public_key is None:
            agents.pop(agent_id, None)
        else:
            agents[agent_id] = public_key
        self._save(data)
