"""The relay's LAN side: a second listener serving only pairing and paired devices, advertised over mDNS.

Agents, MCP and the owner stay on the loopback listener; ``relay.lan.routes`` says what the LAN
listener serves and refuses, ``relay.lan.listener`` runs it beside the loopback app,
``relay.lan.switch`` turns it on and off, and
``relay.lan.advert`` announces it as ``_hitl-desk._tcp.local.`` on its addresses only.
"""

from __future__ import annotations

from relay.lan.listener import LanListener
from relay.lan.switch import LAN_CONTROL, lan_listener, setup_lan
from relay.lan.switch import routes as switch_routes

__all__ = ["LAN_CONTROL", "LanListener", "lan_listener", "setup_lan", "switch_routes"]
