"""Wire models of the end-to-end encryption key routes (``/api/v1/keys/*``, hitl-cli's shapes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from hitl_desk.models import MAX_NAME_CHARS, WireModel


class KeyRegister(WireModel):
    """Body of ``POST /api/v1/keys/register`` (hitl-cli's shape)."""

    entity_type: Literal["agent", "user"]
    entity_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)] | None = None
    public_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]


class KeyRegistered(BaseModel):
    """Answer of ``POST /api/v1/keys/register``."""

    status: str = "registered"
    entity_type: str
    entity_id: str
    public_key: str
    fingerprint: str


class UserKey(BaseModel):
    """One element of ``GET /api/v1/keys/user``."""

    public_key: str
    fingerprint: str


class DevicePublicKeys(BaseModel):
    """Answer of ``GET /api/v1/devices/public-keys`` (hitl-cli's proxy shape)."""

    public_keys: list[str]
