"""What the store keeps of paired devices: the ``DeviceStore`` half of the ``Store`` protocol."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class DeviceRow(NamedTuple):
    """A paired device as stored: public keys only."""

    id: str
    name: str
    verify_key: str
    box_public_key: str
    created_at: float
    last_seen_at: float | None
    revoked_at: float | None


class DeviceStore(Protocol):
    """Paired devices (migration 008)."""

    async def insert_device(self, row: DeviceRow) -> None:
        """Store a newly paired device."""
        ...

    async def device_by_id(self, device_id: str) -> DeviceRow | None:
        """One device, revoked or not."""
        ...

    async def list_devices(self) -> list[DeviceRow]:
        """Every device, newest first."""
        ...

    async def revoke_device(self, device_id: str, now: float) -> DeviceRow | None:
        """Mark a device revoked (idempotent); None for an unknown id."""
        ...

    async def touch_device(self, device_id: str, now: float) -> None:
        """Record that the device was just seen."""
        ...
