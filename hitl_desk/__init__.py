"""hitl-desk: a human-in-the-loop relay on your desktop."""

from __future__ import annotations

__version__ = "0.1.0"
