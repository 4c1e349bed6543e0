"""Where the authorization server keeps clients, grants, codes and refresh tokens (SQLite, migration 007).

Codes and refresh tokens are kept only as SHA-256 hashes: each is 256 random bits, so a slow
hash adds nothing.  Every change that must happen once (a code exchanged, a refresh token
rotated, a reuse revoking its family) is one transaction on the store's writer.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Literal

from mcp.shared.auth import OAuthClientInformationFull

from relay.store.sqlite import SqliteStore

UNUSED_CLIENTS = 500
"""Dynamically registered clients kept that have no code or grant yet (anyone who can reach the
relay may register one; a real client gets its code within minutes of registering)."""
_FORGET_UNUSED = (
    "DELETE FROM oauth_clients WHERE client_id IN (SELECT c.client_id FROM oauth_clients AS c "
    "WHERE c.client_id LIKE 'hc!_%' ESCAPE '!' "
    "AND NOT EXISTS (SELECT 1 FROM oauth_grants AS g WHERE g.client_id = c.client_id) "
    "AND NOT EXISTS (SELECT 1 FROM oauth_codes AS k WHERE k.client_id = c.client_id) "
    "ORDER BY c.created_at DESC, c.rowid DESC LIMIT -1 OFFSET ?)")


def digest(secret: str) -> str:
    """The stored form of a code or refresh token."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """One consent the human gave a client: the family of its refresh tokens."""

    id: str
    client_id: str
    agent_id: str
    scopes: list[str]
    resource: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True)
class StoredCode:
    """An authorization code as issued (its hash is the key)."""

    client_id: str
    agent_id: str
    redirect_uri: str
    code_challenge: str
    scopes: list[str]
    resource: str
    expires_at: float
    grant_id: str | None


RefreshOutcome = Literal["rotated", "unknown", "reused", "expired", "revoked"]


def _grant(row: sqlite3.Row) -> Grant:
    return Grant(id=row["id"], client_id=row["client_id"], agent_id=row["agent_id"],
                 scopes=row["scopes"].split(), resource=row["resource"], created_at=row["created_at"],
                 last_used_at=row["last_used_at"], revoked_at=row["revoked_at"])


class OAuthStore:
    """OAuth rows in the relay's SQLite file, written through the same group-commit writer."""

    def __init__(self, store: SqliteStore) -> None:
        # The relay's one store: its writer serialises these changes with every other write.
        self._store = store

    # -- clients --------------------------------------------------------------------------------

    async def add_client(self, client: OAuthClientInformationFull, now: float) -> None:
        """Keep a registered client; past ``UNUSED_CLIENTS`` registrations that never got a code,
        the oldest of them are forgotten in the same write (registration needs no credential)."""
        def add(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO oauth_clients(client_id, client_name, metadata, created_at) VALUES (?, ?, ?, ?)",
                       (client.client_id, client.client_name, client.model_dump_json(exclude_none=True), now))
            db.execute(_FORGET_UNUSED, (UNUSED_CLIENTS,))

        await self._store._write(add)

    async def keep_client(self, client: OAuthClientInformationFull, now: float) -> None:
        """Keep (or update) a client described by its metadata document."""
        await self._store._write(lambda db: db.execute(
            "INSERT INTO oauth_clients(client_id, client_name, metadata, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(client_id) DO UPDATE SET client_name = excluded.client_name, metadata = excluded.metadata",
            (client.client_id, client.client_name, client.model_dump_json(exclude_none=True), now)))

    async def client(self, client_id: str) -> OAuthClientInformationFull | None:
        """A registered client."""
        row = await self._store._one("SELECT metadata FROM oauth_clients WHERE client_id = ?", (client_id,))
        return None if row is None else OAuthClientInformationFull.model_validate_json(row["metadata"])

    # -- consents waiting for the human -----------------------------------------------------------

    async def add_consent(self, id_hash: str, request_id: str, consent: str, forget_at: float, now: float) -> None:
        """Keep a waiting consent; ones whose browser has given up go in the same write."""
        def add(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM oauth_consents WHERE forget_at < ?", (now,))
            db.execute("INSERT INTO oauth_consents(id_hash, request_id, consent, forget_at) VALUES (?, ?, ?, ?)",
                       (id_hash, request_id, consent, forget_at))

        await self._store._write(add)

    async def waiting_consents(self, now: float) -> list[tuple[str, str, str, float]]:
        """The consents still waiting: (id hash, request id, consent JSON, forget_at)."""
        rows = await self._store._all("SELECT id_hash, request_id, consent, forget_at FROM oauth_consents "
                                      "WHERE forget_at >= ?", (now,))
        return [(r["id_hash"], r["request_id"], r["consent"], float(r["forget_at"])) for r in rows]

    async def drop_consent(self, id_hash: str) -> None:
        """Forget a consent once its decision is redeemed."""
        await self._store._write(lambda db: db.execute("DELETE FROM oauth_consents WHERE id_hash = ?", (id_hash,)))

    # -- codes ----------------------------------------------------------------------------------

    async def add_code(self, code: str, stored: StoredCode) -> None:
        """Keep an issued authorization code (hashed)."""
        await self._store._write(lambda db: db.execute(
            "INSERT INTO oauth_codes(code_hash, client_id, agent_id, redirect_uri, code_challenge, scopes, "
            "resource, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (digest(code), stored.client_id, stored.agent_id, stored.redirect_uri, stored.code_challenge,
             " ".join(stored.scopes), stored.resource, stored.expires_at)))

    async def code(self, code: str) -> StoredCode | None:
        """An issued code, exchanged or not."""
        row = await self._store._one("SELECT * FROM oauth_codes WHERE code_hash = ?", (digest(code),))
        if row is None:
            return None
        return StoredCode(client_id=row["client_id"], agent_id=row["agent_id"], redirect_uri=row["redirect_uri"],
                          code_challenge=row["code_challenge"], scopes=row["scopes"].split(),
                          resource=row["resource"], expires_at=row["expires_at"], grant_id=row["grant_id"])

    async def exchange_code(self, code: str, grant: Grant, refresh_token: str, refresh_expires: float) -> bool:
        """Spend the code on a new grant and its first refresh token; False when it was spent already."""
        def exchange(db: sqlite3.Connection) -> bool:
            spent = db.execute("UPDATE oauth_codes SET grant_id = ? WHERE code_hash = ? AND grant_id IS NULL",
                               (grant.id, digest(code))).rowcount
            if spent != 1:
                return False
            db.execute("INSERT INTO oauth_grants(id, client_id, agent_id, scopes, resource, created_at, "
                       "last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (grant.id, grant.client_id, grant.agent_id, " ".join(grant.scopes), grant.resource,
                        grant.created_at, grant.created_at))
            db.execute("INSERT INTO oauth_refresh_tokens(token_hash, grant_id, expires_at) VALUES (?, ?, ?)",
                       (digest(refresh_token), grant.id, refresh_expires))
            return True

        return await self._store._write(exchange)

    # -- refresh tokens and grants ---------------------------------------------------------------

    async def rotate(self, old: str, new: str, now: float, new_expires: float) -> tuple[RefreshOutcome, Grant | None]:
        """Spend a refresh token for a new one of the same grant; a second use revokes the grant."""
        def rotate(db: sqlite3.Connection) -> tuple[RefreshOutcome, Grant | None]:
            row = db.execute("SELECT r.used_at, r.expires_at, g.* FROM oauth_refresh_tokens r "
                             "JOIN oauth_grants g ON g.id = r.grant_id WHERE r.token_hash = ?",
                             (digest(old),)).fetchone()
            if row is None:
                return "unknown", None
            grant = _grant(row)
            if row["used_at"] is not None:  # a copy is in someone else's hands: end the family
                db.execute("UPDATE oauth_grants SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                           (now, grant.id))
                return "reused", grant
            if grant.revoked_at is not None:
                return "revoked", grant
            if row["expires_at"] < now:
                return "expired", grant
            db.execute("UPDATE oauth_refresh_tokens SET used_at = ? WHERE token_hash = ?", (now, digest(old)))
            db.execute("INSERT INTO oauth_refresh_tokens(token_hash, grant_id, expires_at) VALUES (?, ?, ?)",
                       (digest(new), grant.id, new_expires))
            db.execute("UPDATE oauth_grants SET last_used_at = ? WHERE id = ?", (now, grant.id))
            return "rotated", grant

        return await self._store._write(rotate)

    async def grant_of_refresh(self, token: str) -> Grant | None:
        """The grant a refresh token belongs to."""
        row = await self._store._one("SELECT g.* FROM oauth_refresh_tokens r JOIN oauth_grants g "
                                     "ON g.id = r.grant_id WHERE r.token_hash = ?", (digest(token),))
        return None if row is None else _grant(row)

    async def grant(self, grant_id: str) -> Grant | None:
        """One grant by id."""
        row = await self._store._one("SELECT * FROM oauth_grants WHERE id = ?", (grant_id,))
        return None if row is None else _grant(row)

    async def revoke_grant(self, grant_id: str, now: float) -> None:
        """Revoke a grant: its access and refresh tokens are refused from now on."""
        await self._store._write(lambda db: db.execute(
            "UPDATE oauth_grants SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (now, grant_id)))

    async def revoke_client(self, client_id: str, now: float) -> int:
        """Revoke every live grant of a client; how many there were."""
        return await self._store._write(lambda db: db.execute(
            "UPDATE oauth_grants SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL",
            (now, client_id)).rowcount)

    async def live_grants(self) -> list[tuple[Grant, str | None, str]]:
        """Every unrevoked grant with its client's name and its agent's name, newest first."""
        rows = await self._store._all(
            "SELECT g.*, c.client_name, a.name AS agent_name FROM oauth_grants g "
            "JOIN oauth_clients c ON c.client_id = g.client_id JOIN agents a ON a.id = g.agent_id "
            "WHERE g.revoked_at IS NULL ORDER BY g.created_at DESC")
        return [(_grant(row), row["client_name"], row["agent_name"]) for row in rows]
