"""Who is calling: the owner credential, agent API keys, and the auth-failure limit.

- The owner credential is a JWT signed with the relay's secret, written on first start to
  ``HITL_HOME/owner.token`` (0600).  Local approvers read it; it may do everything.  Only the
  credential whose id the store names is accepted, so ``hitl-desk token rotate`` revokes the
  previous one on the running relay.
- API keys are ``mcp_pk_`` + 32 random bytes (url-safe).  Only a SHA-256 hash and a short
  display prefix are stored (the key has 256 bits of entropy, so a slow hash adds nothing).
  A key belongs to one agent and may ask, notify and follow its own requests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import jwt

from hitl_desk.errors import AgentExistsError, AuthenticationError, PermissionDeniedError, RateLimitedError
from hitl_desk.models import Agent, ApiKeyCreated, ApiKeyInfo
from hitl_desk.settings import Settings, write_private
from relay.metrics import Metrics
from relay.startup import read_owner_token, read_secret, write_owner_token
from relay.store import Store

KEY_PREFIX = "mcp_pk_"
DISPLAY_PREFIX_CHARS = len(KEY_PREFIX) + 8
TOUCH_INTERVAL = 60.0
FAILURE_WINDOW = 60.0
FAILURE_LIMIT = 30
MAX_FAILURE_BUCKETS = 10_000
"""Clients tracked at most; past it, the stalest are dropped (an address that keeps failing comes back)."""
OWNER_JTI = "owner_token_jti"
"""Meta key holding the id of the one owner credential the relay accepts."""


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the owner, an agent holding a key, or a paired device."""

    kind: Literal["owner", "agent", "device"]
    agent: Agent | None = None
    key_prefix: str | None = None
    scopes: frozenset[str] | None = None
    """What an OAuth access token allows (``relay.oauth``); None: not limited by scopes."""
    device: str | None = None
    """A paired device's name (``relay.devices``): an approver on its own routes only."""

    @property
    def label(self) -> str:
        """How the caller appears in ``answered_by`` and logs."""
        if self.kind == "device":
            return f"device:{self.device}"
        return "owner" if self.kind == "owner" else f"agent:{self.agent.name if self.agent else '?'}"

    def require_owner(self) -> None:
        """Refuse anything but the owner credential."""
        if self.kind != "owner":
            raise PermissionDeniedError("Only the desk's owner (an approver) may do that.")


class BearerVerifier(Protocol):
    """Checks bearer tokens that are not API keys or the owner credential (``relay.oauth``)."""

    def claims(self, credential: str) -> bool:
        """Whether this verifier is the one to judge ``credential``."""
        ...

    async def principal(self, credential: str, url: str) -> Principal | None:
        """The caller behind a valid credential presented at ``url``; None when it is not valid."""
        ...


class Auth:
    """Checks credentials and mints keys and tokens."""

    def __init__(self, store: Store, metrics: Metrics, secret: bytes,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.metrics = metrics
        self.secret = secret
        self.clock = clock
        self._keys: dict[str, ApiKeyInfo] = {}
        self._agents: dict[str, Agent] = {}
        self._touched: dict[str, float] = {}
        self._failures: dict[str, deque[float]] = {}
        self._owner_jti: str | None = None
        self.bearer: BearerVerifier | None = None
        """OAuth access tokens go here (set by ``relay.oauth.setup_oauth``)."""
        self._owner_seen: tuple[bytes, str] | None = None
        """The digest of the last owner credential whose signature checked, and its id: approvers
        send the same one on every answer, and decoding the JWT was the costliest step of an answer."""

    @classmethod
    def load_secret(cls, settings: Settings) -> bytes:
        """The relay's signing secret, created (0600) on first start."""
        secret = read_secret(settings.secret_path)
        if secret is None:
            secret = secrets.token_bytes(32)
            write_private(settings.secret_path, secret.hex())
        return secret

    async def ensure_owner_token(self, settings: Settings) -> str:
        """The owner credential, written (0600) when missing, signed by another secret or revoked.

        The id (``jti``) of the one valid owner credential is kept in the store: rotating it
        revokes the previous credential at once, in this process and after a restart.
        """
        existing = read_owner_token(settings.owner_token_path)
        claims = self._decode(existing) if existing else None
        current = await self.store.get_meta(OWNER_JTI)
        jti = claims.get("jti") if claims else None
        if existing and isinstance(jti, str) and current in (None, jti):
            if current is None:
                await self.store.set_meta(OWNER_JTI, jti)
            self._owner_jti = jti
            return existing
        return await self.rotate_owner_token(settings)

    async def rotate_owner_token(self, settings: Settings) -> str:
        """Issue a new owner credential, revoke the previous one and write the new one (0600)."""
        jti = uuid.uuid4().hex
        token = jwt.encode({"sub": "owner", "role": "owner", "jti": jti, "iat": int(self.clock())},
                           self.secret, algorithm="HS256")
        await self.store.set_meta(OWNER_JTI, jti)
        self._owner_jti = jti  # the old credential is refused from here on
        write_owner_token(settings.owner_token_path, token)
        return token

    def _decode(self, token: str) -> dict[str, object] | None:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        return claims if isinstance(claims, dict) else None

    # -- checking -----------------------------------------------------------------------------

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str] | None = None,
                           remote: str = "", url: Callable[[], str] = str) -> Principal:
        """The caller behind ``X-API-Key``, ``Authorization: Bearer`` or a ``token`` query.

        ``url``: gives the URL called, which an OAuth access token's audience must cover (built
        only for such a token: building it costs more than checking an API key).
        """
        credential = headers.get("X-API-Key") or headers.get("x-api-key")
        if not credential:
            scheme, _, value = (headers.get("Authorization") or headers.get("authorization") or "").partition(" ")
            if scheme.lower() == "bearer":
                credential = value.strip()
        if not credential and query is not None:
            credential = query.get("token")
        if not credential:
            raise AuthenticationError("No credential: send an API key (X-API-Key or Bearer) or the owner token.")
        principal = await self._check(credential.strip(), url)
        if principal is None:
            self._fail(remote)
            raise AuthenticationError("That API key or token is not valid (unknown, revoked or expired).")
        return principal

    async def _check(self, credential: str, url: Callable[[], str]) -> Principal | None:
        if self.bearer is not None and self.bearer.claims(credential):
            return await self.bearer.principal(credential, url())
        if credential.startswith(KEY_PREFIX):
            digest = hash_key(credential)
            info = self._keys.get(digest) or await self.store.api_key_by_hash(digest)
            if info is None or info.revoked_at is not None:
                return None
            self._keys[digest] = info
            await self._touch(info)
            agent = await self._agent(info.agent_id)
            return None if agent is None else Principal("agent", agent, info.prefix)
        seen_digest = hashlib.sha256(credential.encode("utf-8", "surrogatepass")).digest()
        seen = self._owner_seen
        if seen is not None and hmac.compare_digest(seen[0], seen_digest):
            return Principal("owner") if seen[1] == self._owner_jti else None  # rotated: refused at once
        claims = self._decode(credential)
        jti = claims.get("jti") if claims else None
        if claims and claims.get("role") == "owner" and isinstance(jti, str) and jti == self._owner_jti:
            if "exp" not in claims:  # a credential that can expire is checked every time
                self._owner_seen = (seen_digest, jti)
            return Principal("owner")
        return None

    async def _agent(self, agent_id: str) -> Agent | None:
        agent = self._agents.get(agent_id) or await self.store.agent_by_id(agent_id)
        if agent is not None:
            self._agents[agent_id] = agent
        return agent

    async def _touch(self, info: ApiKeyInfo) -> None:
        now = self.clock()
        if now - self._touched.get(info.prefix, 0.0) >= TOUCH_INTERVAL:
            self._touched[info.prefix] = now
            await self.store.touch_api_key(info.prefix, now)
            await self.store.touch_agent(info.agent_id, now)

    def count_failure(self, remote: str) -> None:
        """Count a credential refused elsewhere (a device signature) against ``remote``'s limit;
        raises ``RateLimitedError`` once it is past the limit."""
        self._fail(remote)

    @property
    def failure_buckets(self) -> int:
        """How many clients have failures on record (bounded: pruned as failures age)."""
        return len(self._failures)

    def _fail(self, remote: str) -> None:
        self.metrics.auth_failures.inc()
        now = self.clock()
        self._prune_failures(now)
        # One more than the limit is all the check needs, however fast a client fails.
        window = self._failures.pop(remote, None) or deque(maxlen=FAILURE_LIMIT + 1)
        self._failures[remote] = window  # re-inserted: the dict stays ordered by last failure
        while window and now - window[0] > FAILURE_WINDOW:
            window.popleft()
        window.append(now)
        if len(window) > FAILURE_LIMIT:
            raise RateLimitedError(f"Too many failed attempts; try again in {int(FAILURE_WINDOW)} s.")

    def _prune_failures(self, now: float) -> None:
        """Forget clients whose last failure left the window, and the stalest past the cap."""
        for remote, window in list(self._failures.items()):  # oldest last failure first
            if now - window[-1] <= FAILURE_WINDOW and len(self._failures) < MAX_FAILURE_BUCKETS:
                break
            del self._failures[remote]

    # -- agents and keys ----------------------------------------------------------------------

    async def agent_for(self, principal: Principal, agent_name: str | None, fallback: str) -> Agent:
        """The agent a call speaks for: the key's agent, else ``agent_name``, else ``fallback``.

        Agents are registered on first contact.
        """
        if principal.agent is not None:
            return principal.agent
        return await self.ensure_agent(agent_name or fallback)

    async def ensure_agent(self, name: str) -> Agent:
        """The agent of that name, created if new."""
        found = await self.store.agent_by_name(name)
        if found is not None:
            return found
        return await self.store.create_agent(new_agent_id(), name, self.clock(), exist_ok=True)

    async def register_agent(self, name: str) -> Agent:
        """Register a new agent (``AgentExistsError`` when the name is taken)."""
        if await self.store.agent_by_name(name) is not None:
            raise AgentExistsError(f"An agent named {name!r} exists already.")
        return await self.ensure_agent(name)

    async def agent_by_id_or_name(self, ref: str | None, fallback: str) -> Agent:
        """The agent with the id ``ref``, else the one named ``ref`` (or ``fallback``), created if new."""
        found = await self.store.agent_by_id(ref) if ref else None
        return found or await self.ensure_agent(ref or fallback)

    async def list_agents(self) -> list[Agent]:
        """Every agent, oldest first."""
        return await self.store.list_agents()

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every key, newest first, without the secret."""
        return await self.store.list_api_keys()

    async def create_api_key(self, agent_name: str, label: str | None) -> ApiKeyCreated:
        """Mint a key for the agent (registered if new); the key is returned only here."""
        agent = await self.ensure_agent(agent_name)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        prefix = key[:DISPLAY_PREFIX_CHARS]
        now = self.clock()
        await self.store.insert_api_key(prefix, hash_key(key), agent.id, label, now)
        return ApiKeyCreated(api_key=key, prefix=prefix, agent_id=agent.id, agent_name=agent.name,
                             label=label, created_at=now)  # type: ignore[arg-type]

    async def revoke_api_key(self, prefix: str) -> ApiKeyInfo:
        """Revoke a key; it is refused from the next call on."""
        info = await self.store.revoke_api_key(prefix, self.clock())
        for digest, cached in list(self._keys.items()):
            if cached.prefix == prefix:
                del self._keys[digest]
        return info


def new_agent_id() -> str:
    """A fresh agent id."""
    return "agt_" + secrets.token_hex(8)
