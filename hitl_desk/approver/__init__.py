"""The approver core every approver (TUI, tray, CLI) is a view over.

``Approver`` follows the relay's event stream, merges the pending snapshot of each (re)connect
with the events that arrived while it loaded, ensures the desk key once, reads each encrypted
request once (``hitl_desk.reading``) and answers (sealed where encrypted) and cancels.  It
imports no UI toolkit: a view implements ``ApproverView`` and words what it is handed.
"""

from __future__ import annotations

from hitl_desk.approver.core import Approver, ApproverView
from hitl_desk.approver.snapshot import Snapshot, merge

__all__ = ["Approver", "ApproverView", "Snapshot", "merge"]
