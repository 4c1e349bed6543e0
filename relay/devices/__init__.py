"""Paired devices (DESIGN.md §7): pairing, device credentials, and the device-signed routes.

``routes`` is what the LAN listener (``relay.lan``) serves devices: the new device's pairing
steps, the signed approver routes under ``/api/v1/device`` and the CA of ``--lan-tls``;
``owner_routes`` are the desk's, on the loopback listener only.  ``setup_devices`` gives the
loopback app the pairing book and the registry, which the LAN app shares.
"""

from __future__ import annotations

from relay.devices.context import DEVICES, PAIRINGS, setup_devices
from relay.devices.owner import routes as owner_routes
from relay.devices.routes import routes

__all__ = ["DEVICES", "PAIRINGS", "owner_routes", "routes", "setup_devices"]
