"""Key files and trust pins under ``HITL_HOME`` (all 0600).

- ``desk.key``: the human's X25519 key pair, made by the first approver.
- ``agent.key``: this machine's agent key pair (hitl-cli's ``agent.key`` format).
- ``trust.json``: pinned public keys — the desk key as agents first saw it, and each agent's key
  as approvers first saw it (with its name).  A changed key is refused until the human
  re-trusts it, and so is a new agent id that carries the name of a pinned agent with another key.
"""

from __future__ import annotations

import json
import os
import time
import unicodedata
from pathlib import Path
from typing import Any

from hitl_desk.crypto import AgentNameConflictError, KeyChangedError, KeyPair, fingerprint
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

    def check_agent(self, agent_id: str, agent_name: str, public_key: str) -> bool:
        """Pin an agent's key on first use; True when this call pinned it (a first use).

        Refuses a different key for a pinned id (``KeyChangedError``), and a new id whose name
        is already pinned to another key (``AgentNameConflictError``): the relay assigns ids, so
        a new id under a known name is an impersonation until the human says otherwise.
        """
        data = self._load()
        agents: dict[str, str] = data.setdefault("agents", {})
        names: dict[str, str] = data.setdefault("agent_names", {})
        allowed: list[str] = data.setdefault("allowed", [])
        pinned = agents.get(agent_id)
        if pinned == public_key:
            return False
        if pinned is not None:
            raise KeyChangedError(
                f"Agent {agent_name!r} has a new key (pinned {fingerprint(pinned)}, offered "
                f"{fingerprint(public_key)}). If that is expected, run: hitl-desk keys trust-agent {agent_id}")
        if agent_id not in allowed:
            for other_id, other_key in agents.items():
                if other_key != public_key and same_name(names.get(other_id), agent_name):
                    raise AgentNameConflictError(
                        f"different key for a known name: {agent_name!r} ({agent_id}, key "
                        f"{fingerprint(public_key)}) is not the {agent_name!r} you trust ({other_id}, key "
                        f"{fingerprint(other_key)}); the relay may be impersonating it. If you made this "
                        f"agent yourself, run: hitl-desk keys trust-agent {agent_id}")
        agents[agent_id] = public_key
        names[agent_id] = agent_name
        if agent_id in allowed:
            allowed.remove(agent_id)
        self._save(data)
        return True

    def trust_agent(self, agent_id: str, public_key: str | None, agent_name: str | None = None) -> None:
        """Re-pin an agent's key, or with None forget it and let its next key pin without the
        name check (the human vouched for this id)."""
        data = self._load()
        agents = data.setdefault("agents", {})
        allowed: list[str] = data.setdefault("allowed", [])
        if public_key is None:
            agents.pop(agent_id, None)
            if agent_id not in allowed:
                allowed.append(agent_id)
        else:
            agents[agent_id] = public_key
            if agent_name is not None:
                data.setdefault("agent_names", {})[agent_id] = agent_name
        self._save(data)


def same_name(known: str | None, offered: str) -> bool:
    """Whether two agent names would look the same to the human (case, width, spacing)."""
    if known is None:
        return False
    return _name_key(known) == _name_key(offered)


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())
