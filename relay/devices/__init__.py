"""Paired devices (DESIGN.md §7): pairing, device credentials, and the device-signed routes.

Contract with the LAN listener: ``routes`` is the table of what a LAN listener serves to devices
(the pairing steps of the new device, and the signed approver routes under ``/api/v1/device``);
``owner_routes`` are the desk's (loopback only).  An app serving either calls ``setup_devices``,
and may name its device-facing addresses in ``DEVICE_URLS`` (the first goes into pairing links).
"""

from __future__ import annotations

from relay.devices.context import DEVICE_URLS, DEVICES, PAIRINGS, setup_devices
from relay.devices.owner import routes as owner_routes
from relay.devices.routes import routes

__all__ = ["DEVICES", "DEVICE_URLS", "PAIRINGS", "owner_routes", "routes", "setup_devices"]
