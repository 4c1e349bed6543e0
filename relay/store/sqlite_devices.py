"""The SQLite rows of paired devices, mixed into ``SqliteStore`` (its writer and reader)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from relay.store.devices import DeviceRow
from relay.writer import T

_COLUMNS = "id, name, verify_key, box_public_key, created_at, last_seen_at, revoked_at"


class DeviceRows:
    """``DeviceStore`` for ``SqliteStore``: every write goes through the store's one writer."""

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def insert_device(self, row: DeviceRow) -> None:
        """Store a newly paired device."""
        await self._write(lambda db: db.execute(f"INSERT INTO devices({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row))

    async def device_by_id(self, device_id: str) -> DeviceRow | None:
        """One device, revoked or not."""
        rows = await self._all(f"SELECT {_COLUMNS} FROM devices WHERE id = ?", (device_id,))
        return DeviceRow(*rows[0]) if rows else None

    async def list_devices(self) -> list[DeviceRow]:
        """Every device, newest first."""
        return [DeviceRow(*r) for r in await self._all(f"SELECT {_COLUMNS} FROM devices ORDER BY created_at DESC")]

    async def revoke_device(self, device_id: str, now: float) -> DeviceRow | None:
        """Mark a device revoked (idempotent); None for an unknown id."""
        await self._write(lambda db: db.execute(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (now, device_id)))
        return await self.device_by_id(device_id)

    async def touch_device(self, device_id: str, now: float) -> None:
        """Record that the device was just seen."""
        await self._write(lambda db: db.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", (now, device_id)))
