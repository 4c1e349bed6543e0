"""Deterministic desk state for snapshots: fixed ids, names and times around a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from nacl.public import PrivateKey

from hitl_desk.client import StreamState
from hitl_desk.crypto import KeyPair, b64, bind, seal_json
from hitl_desk.keystore import TrustStore
from hitl_desk.models import Agent, ApiKeyCreated, ApiKeyInfo, HitlRequest
from hitl_desk.settings import Settings, write_private
from tui.state import DeskState

NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
URL = "http://127.0.0.1:8765"
AGENTS = ("claude-code", "cursor", "n8n-nightly")

PROMPT = """\
Migration **0042_drop_legacy_users** is ready. It will:

- drop the `legacy_users` table (1,204 rows, last written 2024)
- remove the `users.legacy_id` column

```sql
DROP TABLE legacy_users;
ALTER TABLE users DROP COLUMN legacy_id;
```

Run it against **production** now?"""


def _agent_id(name: str) -> str:
    return f"agt_{AGENTS.index(name):016x}"


def request(n: int, agent: str, prompt: str, *, minutes_ago: float, kind: str = "input",
            choices: tuple[str, ...] = (), status: str = "pending", response: str | None = None,
            timeout: float = 15 * 60, placeholder: str | None = None) -> HitlRequest:
    """One request with id ``req_000…n`` asked ``minutes_ago`` before NOW."""
    created = NOW - timedelta(minutes=minutes_ago)
    closed = None if status in ("pending", "delivered") else created + timedelta(seconds=40)
    if status == "delivered":
        closed = created
    return HitlRequest(
        id=f"req_{n:020d}", kind=kind, status=status, agent_id=_agent_id(agent),  # type: ignore[arg-type]
        agent_name=agent, prompt=prompt, choices=list(choices), placeholder_text=placeholder,
        response=response, answered_by="owner" if status == "answered" else None, created_at=created,
        expires_at=None if kind == "notification" else created + timedelta(seconds=timeout),
        closed_at=closed)


def pending() -> list[HitlRequest]:
    """The queue: questions with and without choices, a completion, one about to expire."""
    return [
        request(1, "claude-code", PROMPT, minutes_ago=0.2, choices=("Run it", "Dry run first", "Skip")),
        request(2, "cursor", "Which branch should I rebase `feature/tray` onto?", minutes_ago=1.5,
                placeholder="branch name, e.g. main"),
        request(3, "n8n-nightly", "Nightly import finished: 3 files skipped (bad encoding). Anything"
                " to do?", minutes_ago=4, kind="completion"),
        request(4, "claude-code", "Overwrite the local changes in `relay/store.py`?", minutes_ago=14.4,
                choices=("Yes", "No")),
        request(5, "cursor", "Add `pytest-timeout` to the test extras?", minutes_ago=9,
                choices=("Add it", "Leave it")),
    ]


def feed() -> list[HitlRequest]:
    """Notifications and completions, newest first."""
    return [
        pending()[2],
        request(11, "claude-code", "Started the refactor of `tui/app.py` (12 files).", minutes_ago=6,
                kind="notification", status="delivered"),
        request(12, "n8n-nightly", "Backup uploaded: 2.3 GB in 41 s.", minutes_ago=75,
                kind="notification", status="delivered"),
        request(13, "cursor", "Tests green on `main` after the merge.", minutes_ago=190, kind="completion",
                status="answered", response="Thanks — tag it v0.3."),
    ]


def history() -> list[HitlRequest]:
    """Closed requests of every status."""
    return [
        request(21, "claude-code", "Push the release tag `v0.2.0`?", minutes_ago=20, choices=("Yes", "No"),
                status="answered", response="Yes"),
        request(22, "cursor", "Name for the new settings module?", minutes_ago=35, status="answered",
                response="settings"),
        request(23, "n8n-nightly", "Retry the failed S3 upload?", minutes_ago=50, status="expired"),
        request(24, "claude-code", "Delete 14 stale branches?", minutes_ago=65, choices=("Yes", "No"),
                status="cancelled"),
        request(25, "cursor", "Use ruff's `UP` rules too?", minutes_ago=80, choices=("Yes", "No"),
                status="answered", response="No"),
    ]


def agents() -> list[Agent]:
    """Three agents."""
    return [Agent(id=_agent_id(n), agent_id=_agent_id(n), name=n, created_at=NOW - timedelta(days=3 - i),
                  last_seen_at=NOW - timedelta(minutes=3 * i) if i < 2 else None)
            for i, n in enumerate(AGENTS)]


def keys() -> list[ApiKeyInfo]:
    """Keys by prefix, one revoked."""
    rows = [("mcp_pk_Q2xhdWRl", "claude-code", "laptop", 2, False), ("mcp_pk_Q3Vyc29y", "cursor", None, 1, False),
            ("mcp_pk_bjhuLW5p", "n8n-nightly", "server", 1, False), ("mcp_pk_b2xkLWtl", "claude-code", "old", 3, True)]
    return [ApiKeyInfo(prefix=p, agent_id=_agent_id(a), agent_name=a, label=label,
                       created_at=NOW - timedelta(days=d), last_used_at=NOW - timedelta(minutes=7) if not r else None,
                       revoked_at=NOW - timedelta(days=1) if r else None)
            for p, a, label, d, r in rows]


def new_key() -> ApiKeyCreated:
    """A freshly made key (its secret shown once)."""
    return ApiKeyCreated(prefix="mcp_pk_bmV3LWtl", agent_id=_agent_id("cursor"), agent_name="cursor",
                         label="desktop", created_at=NOW, api_key="mcp_pk_bmV3LWtleS1zaG93bi1vbmNlLWZvci1zbmFwc2hvdHM")


def desk_state(*, empty: bool = False) -> DeskState:
    """A connected desk with everything filled in (``empty``: a first run, nothing yet)."""
    state = DeskState()
    state.connection = StreamState(True, 42)
    state.keys_loaded = True
    state.synced = True
    if empty:
        return state
    state.pending.replace_all(pending())
    state.fresh.add(pending()[0].id)
    state.feed = feed()
    state.unread = 2
    state.set_history(history())
    state.agents = agents()
    state.keys = keys()
    return state


# -- end-to-end encrypted requests ---------------------------------------------------------------
# Fixed keys, so the desk opens exactly these envelopes (the ciphertext itself varies: random nonces,
# but only the decrypted text is ever on screen).

def keypair(seed: int) -> KeyPair:
    """A key pair made from a fixed seed byte."""
    private = PrivateKey(bytes([seed]) * 32)
    return KeyPair(private_key=b64(bytes(private)), public_key=b64(bytes(private.public_key)))


DESK_KEYS = keypair(1)
AGENT_KEYS = keypair(2)
SEALED_PROMPT = "Rotate the **staging** database password now?"


def sealed(n: int, agent: str, prompt: str, *, minutes_ago: float, choices: tuple[str, ...] = (),
           kind: str = "input", bound_to: str | None = None, unbound: bool = False,
           status: str = "pending") -> HitlRequest:
    """Request ``n`` as an agent sends it end to end: empty prompt, the content in the envelope.

    ``bound_to``: bind the envelope to another request (a replay); ``unbound``: hitl-cli's format.
    """
    plain = request(n, agent, "", minutes_ago=minutes_ago, kind=kind, status=status)
    body: dict[str, object] = ({"message": prompt} if kind == "notification" else
                               {"prompt": prompt, "choices": list(choices), "placeholder_text": ""})
    if not unbound:
        body = bind(bound_to or plain.id, body, now=plain.created_at.timestamp())
    payload = seal_json(AGENT_KEYS.box(DESK_KEYS.public_key), body)
    return plain.model_copy(update={"encrypted_payload": payload, "agent_public_key": AGENT_KEYS.public_key,
                                    "channel": "rest"})


def sealed_pending() -> list[HitlRequest]:
    """Three encrypted questions: readable, from hitl-cli (unverified), and a replayed envelope."""
    return [
        sealed(31, "claude-code", SEALED_PROMPT, minutes_ago=0.1, choices=("Rotate", "Later")),
        sealed(32, "n8n-nightly", "Restart the import worker?", minutes_ago=2, unbound=True),
        sealed(33, "cursor", "Replayed from another request", minutes_ago=3, bound_to=f"req_{99:020d}"),
    ]


def desk_home(home: Path) -> Settings:
    """Settings for an approver whose home holds the fixed desk key."""
    home.mkdir(parents=True, exist_ok=True)
    write_private(home / "desk.key", DESK_KEYS.to_json())
    settings = Settings(home=home, server_url=URL, server_url_set=True)
    trust = TrustStore(settings)
    for agent in ("claude-code", "n8n-nightly", "cursor"):  # known agents: no first-use key note
        trust.trust_agent(_agent_id(agent), AGENT_KEYS.public_key, agent)
    return settings


def sealed_state() -> DeskState:
    """The full desk with encrypted requests on top of the queue and in the feed."""
    state = desk_state()
    state.pending.replace_all([*pending(), *sealed_pending()])
    state.fresh = {sealed_pending()[0].id}
    state.feed.insert(0, sealed(34, "claude-code", "Deployed `v0.3` to staging.", minutes_ago=0.5,
                                kind="notification", status="delivered"))
    return state
