"""What the relay keeps: the ``Store`` protocol every storage engine implements.

The broker, auth and the bus depend on these protocols only; the app wiring picks the engine
(``relay.store.sqlite.SqliteStore`` today; a PostgreSQL store is a second implementation of the
same methods).  Every implementation passes ``tests/relay/test_store_contract.py``.

Correctness across relays that share one store rests on two rules an implementation must keep:
``close_request`` is one conditional change (pending → final) that succeeds exactly once, with
its event appended in the same transaction; and a request's expiry timer belongs to one relay
at a time, the one whose lease (``renew_lease``) is live (``claim_timers``).  Every creation and
closing also appends its audit entry (``hitl_desk.audit``) in that transaction, extending one
hash chain across the relays that share the store.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from hitl_desk.audit import AuditEntry
from hitl_desk.models import Agent, ApiKeyInfo, Event, HitlRequest
from hitl_desk.rules import Rule
from relay.store.devices import DeviceStore


class ClaimedTimer(NamedTuple):
    """A pending request whose expiry timer a relay just took over."""

    request: HitlRequest
    attended: bool
    """A caller was blocked on it: it is withdrawn unless that caller comes back in the grace."""


class EventLog(Protocol):
    """The ordered log of committed events (what the bus replays from)."""

    async def events_since(self, seq: int, limit: int = 500) -> list[Event]:
        """Events with a sequence number above ``seq``, in order."""
        ...

    async def last_seq(self) -> int:
        """The newest event's sequence number (0 when there is none)."""
        ...


class Store(EventLog, DeviceStore, Protocol):
    """Durable agents, API keys, public keys, requests and their events."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (``RelayStartError`` when it cannot)."""
        ...

    async def close(self) -> None:
        """Finish pending writes and disconnect."""
        ...

    @property
    def storage_full(self) -> bool:
        """Whether the last write failed for lack of space."""
        ...

    async def probe_storage(self) -> bool:
        """Try a tiny write; True when the store can write again (clears ``storage_full``)."""
        ...

    # -- the relay's own settings ----------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """A value of the relay's own settings table."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Store a value in the relay's own settings table."""
        ...

    # -- agents and API keys ---------------------------------------------------------------------

    async def agent_by_name(self, name: str) -> Agent | None:
        """The agent with this name, if any."""
        ...

    async def agent_by_id(self, agent_id: str) -> Agent | None:
        """The agent with this id, if any."""
        ...

    async def create_agent(self, agent_id: str, name: str, now: float, *, exist_ok: bool) -> Agent:
        """Insert an agent (``AgentExistsError`` on a taken name unless ``exist_ok``)."""
        ...

    async def list_agents(self) -> list[Agent]:
        """Every agent, oldest first."""
        ...

    async def touch_agent(self, agent_id: str, now: float) -> None:
        """Record that the agent was just seen."""
        ...

    async def insert_api_key(self, prefix: str, key_hash: str, agent_id: str, label: str | None,
                             now: float) -> None:
        """Store a new key's hash and display prefix."""
        ...

    async def api_key_by_hash(self, key_hash: str) -> ApiKeyInfo | None:
        """The key whose hash this is, revoked or not."""
        ...

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every key, newest first, without the secret."""
        ...

    async def revoke_api_key(self, prefix: str, now: float) -> ApiKeyInfo:
        """Mark a key revoked (idempotent; ``ApiKeyNotFoundError`` for an unknown prefix)."""
        ...

    async def touch_api_key(self, prefix: str, now: float) -> None:
        """Record the key's last use."""
        ...

    async def set_public_key(self, entity_type: str, entity_id: str, public_key: str, now: float) -> None:
        """Register or replace an entity's public key."""
        ...

    async def public_key(self, entity_type: str, entity_id: str) -> str | None:
        """An entity's registered public key."""
        ...

    # -- requests --------------------------------------------------------------------------------

    async def insert_request(self, request: HitlRequest, now: float, *, max_pending: int | None = None,
                             attended: bool = False, timer_owner: str | None = None) -> Event:
        """Persist a new request, its ``request.created`` event and audit entry in one transaction.

        A request already final when inserted (answered at once by a rule) gets its closing event
        instead (``request.answered``), and audit entries for both its creation and its closing.

        ``max_pending``: refuse (``TooManyPendingError``) when the agent has that many pending,
        counted in the same transaction.  ``attended``: a caller is blocked on it.
        ``timer_owner``: the relay that owns its expiry timer.
        """
        ...

    async def close_request(self, request_id: str, status: str, response: str | None,
                            answered_by: str | None, now: float, *, encrypted_response: str | None = None,
                            encrypted: bool | None = None,
                            cancel_reason: str | None = None, via: str | None = None,
                            new_rule: Rule | None = None) -> tuple[HitlRequest, Event] | None:
        """Move a pending request to a final state and append its event and audit entry, exactly
        once; None when it was not pending (or unknown, or its encryption is not ``encrypted`` when
        given).  ``via``: the approver it was answered from, recorded in the audit entry;
        ``new_rule``: a rule the answer makes ("Always allow"), stored in the same transaction."""
        ...

    async def get_request(self, request_id: str) -> HitlRequest | None:
        """One request by id."""
        ...

    async def page_requests(self, status: str | None = None, *, kind: str | None = None,
                            agent_id: str | None = None, limit: int = 100, after: int | None = None,
                            newest_first: bool = False) -> tuple[list[HitlRequest], int | None]:
        """One page in insertion order (or its reverse) after the key ``after``, and the key of
        the next page (None on the last); rows changing meanwhile never shift a boundary."""
        ...

    async def mark_attended(self, request_id: str) -> None:
        """Record that a caller blocks on this request."""
        ...

    async def count_requests(self, status: str) -> int:
        """How many requests are in this state."""
        ...

    # -- always-allow rules and the audit chain ----------------------------------------------------

    async def add_rule(self, rule: Rule) -> None:
        """Store a new rule."""
        ...

    async def rules_for(self, agent_id: str, tool: str) -> list[Rule]:
        """The live (unrevoked) rules of one agent for one tool, oldest first."""
        ...

    async def list_rules(self, *, include_revoked: bool = False) -> list[Rule]:
        """Every rule, newest first (live ones only unless ``include_revoked``)."""
        ...

    async def revoke_rule(self, rule_id: str, now: float, by: str | None = None) -> Rule:
        """Mark a rule revoked and audit it with ``by`` (idempotent: once; ``RuleNotFoundError`` for an
        unknown id).  ``add_rule`` and a close's ``new_rule`` audit the rule's creation the same way."""
        ...

    async def audit_page(self, after: int, limit: int) -> list[AuditEntry]:
        """Audit entries with ``seq`` above ``after``, oldest first, at most ``limit``."""
        ...

    # -- expiry timer leases ---------------------------------------------------------------------

    async def renew_lease(self, relay_id: str, until: float) -> None:
        """Keep the relay's timer lease live until ``until``."""
        ...

    async def claim_timers(self, relay_id: str, now: float) -> list[ClaimedTimer]:
        """Take over the expiry timers of pending requests nobody owns or whose owner's lease has
        lapsed; one conditional change, so two relays never claim the same request."""
        ...

    async def live_leases(self, now: float) -> list[str]:
        """The ids of the relays whose lease is live at ``now``."""
        ...

    async def release_timers(self, relay_id: str) -> None:
        """Give up the relay's lease and its requests' timers (another relay claims them)."""
        ...
