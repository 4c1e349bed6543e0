"""hitl-desk: a human-in-the-loop relay on your desktop.

The public surface: ``HITL`` and ``HITLSync`` (the SDK), ``RelayClient`` (REST + event stream)
and the error classes in ``hitl_desk.errors``.  Imported lazily so the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["HITL", "HITLSync", "RelayClient", "__version__"]

if TYPE_CHECKING:
    from hitl_desk.client import RelayClient
    from hitl_desk.sdk import HITL, HITLSync

_LAZY = {"HITL": "hitl_desk.sdk", "HITLSync": "hitl_desk.sdk", "RelayClient": "hitl_desk.client"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hitl_desk' has no attribute {name!r}")
