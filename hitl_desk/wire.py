"""The base of every input model the relay accepts (``hitl_desk.models`` and its neighbours)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Base of the input models: unknown fields are ignored, types are strict-ish."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)
