"""Real desktop services for tests: a private session bus, Xvfb, a tray host and dunst.

Every helper starts a real process on this machine, waits for it to be ready by polling
under a deadline, and kills it on exit. Nothing reads the user's own configuration.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from Xlib import X  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib.protocol import event as xevent  # type: ignore[import-untyped]

from tests.deadline import until_blocking

READY_TIMEOUT = 10.0
"""Seconds a service gets to become ready before the helper gives up."""

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
# The policy of Debian's session.conf; no <servicedir>: nothing is auto-activated, so a test never starts
# the user's dunst by accident.

_DUNSTRC = """[global]
    monitor = 0
    follow = none
    width = 300
    height = 200
    idle_threshold = 0
    show_indicators = no
    markup = no
    sticky_history = yes
    history_length = 50
    dmenu = {dmenu}
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""
# Timeouts 0: notifications stay on screen until a test acts on them, however slow the machine.

_DMENU = """#!/bin/sh
# Stands in for dmenu: keeps the menu dunst offers, picks the line the test asked for.
cat > "{dir}/menu.partial"
mv "{dir}/menu.partial" "{dir}/menu.txt"
grep -F -- "$(cat "{dir}/choice")" "{dir}/menu.txt" | head -n 1
"""


class DesktopServiceError(RuntimeError):
    """A desktop service failed to start or died."""


def _log_tail(path: Path, limit: int = 2000) -> str:
    """Return the end of a service log, for error messages."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _check_alive(proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    """Raise if ``proc`` has exited while we wait for it."""
    if proc.poll() is not None:
        raise DesktopServiceError(f"{name} exited with {proc.returncode}: {_log_tail(log)}")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate a child process, killing it if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def _stop_pid(pid: int, timeout: float = 5.0) -> None:
    """Terminate a daemon that forked away from us, by its pid."""
    try:
        os.kill(pid, signal.SIGTERM)
        until_blocking(lambda: _pid_gone(pid), what=f"exit of pid {pid}", timeout=timeout)
    except ProcessLookupError:
        return
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)


def bus_env(address: str, **extra: str) -> dict[str, str]:
    """Return ``os.environ`` pointed at the session bus ``address`` (plus ``extra``)."""
    env = dict(os.environ)
    env["DBUS_SESSION_BUS_ADDRESS"] = address
    env.update(extra)
    return env


def _bus_answers(address: str) -> bool:
    """True when the bus daemon at ``address`` answers a method call."""
    result = subprocess.run(
        ["dbus-send", f"--bus={address}", "--print-reply", "--dest=org.freedesktop.DBus",
         "/org/freedesktop/DBus", "org.freedesktop.DBus.GetId"],
        capture_output=True, timeout=READY_TIMEOUT, check=False,
    )
    return result.returncode == 0


@contextmanager
def session_bus() -> Iterator[str]:
    """Run a private DBus session bus with no activatable services; yield its address."""
    with tempfile.TemporaryDirectory(prefix="hitl-dbus-") as tmp:
        config = Path(tmp, "session.conf")
        config.write_text(_BUS_CONFIG.format(dir=tmp))
        started = subprocess.run(
            ["dbus-daemon", f"--config-file={config}", "--fork",
             "--print-address=1", "--print-pid=1"],
            capture_output=True, text=True, timeout=READY_TIMEOUT, check=False,
        )
        if started.returncode != 0:
            raise DesktopServiceError(f"dbus-daemon failed: {started.stderr}")
        address, pid_text = started.stdout.split()[:2]
        pid = int(pid_text)
        try:
            until_blocking(lambda: _bus_answers(address), what="dbus-daemon")
            yield address
        finally:
            _stop_pid(pid)


@contextmanager
def xvfb(screen: str = "1024x768x24") -> Iterator[str]:
    """Run Xvfb on a free display number (chosen with ``-displayfd``); yield ``":N"``."""
    with tempfile.TemporaryDirectory(prefix="hitl-xvfb-") as tmp:
        log = Path(tmp, "xvfb.log")
        read_fd, write_fd = os.pipe()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen,
                 "-nolisten", "tcp", "-noreset"],
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )
        os.close(write_fd)
        try:
            number = _read_display_number(read_fd, proc, log)
            yield f":{number}"
        finally:
            os.close(read_fd)
            _stop(proc)


def _read_display_number(fd: int, proc: subprocess.Popen[bytes], log: Path) -> int:
    """Read the display number Xvfb writes to ``-displayfd`` once it accepts connections."""
    deadline = time.monotonic() + READY_TIMEOUT
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Xvfb not ready after {READY_TIMEOUT:.1f} s")
        readable, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if readable:
            chunk = os.read(fd, 64)
            if not chunk:
                break
            data += chunk
        _check_alive(proc, "Xvfb", log)
    if not data.strip():
        raise DesktopServiceError(f"Xvfb gave no display number: {_log_tail(log)}")
    return int(data.strip())


def tray_selection_owner(display: str) -> int:
    """Return the window id owning ``_NET_SYSTEM_TRAY_S0`` on ``display`` (0 if none)."""
    conn = xdisplay.Display(display)
    try:
        atom = conn.intern_atom(f"_NET_SYSTEM_TRAY_S{conn.get_default_screen()}")
        owner = conn.get_selection_owner(atom)
        return 0 if owner == X.NONE else int(owner.id)
    finally:
        conn.close()


@dataclass(frozen=True)
class TrayHost:
    """A running tray host (``trayer``) on an X display."""

    display: str
    pid: int
    manager_window: int
    log: Path

    def log_text(self) -> str:
        """Return what trayer wrote so far."""
        return _log_tail(self.log, 100_000)


@contextmanager
def tray_host(display: str) -> Iterator[TrayHost]:
    """Run ``trayer`` on ``display``; yield once it owns the system tray selection."""
    with tempfile.TemporaryDirectory(prefix="hitl-trayer-") as tmp:
        log = Path(tmp, "trayer.log")
        env = dict(os.environ, DISPLAY=display)
        env.pop("WAYLAND_DISPLAY", None)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                 "--height", "32", "--SetDockType", "true", "--expand", "true"],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )
        try:
            def owned() -> bool:
                _check_alive(proc, "trayer", log)
                return tray_selection_owner(display) != 0

            until_blocking(owned, what="trayer")
            # trayer owns the selection a moment before it handles dock requests, and drops
            # the ones that come too early: wait until it really docks a probe icon.
            _probe_dock(display)
            yield TrayHost(display, proc.pid, tray_selection_owner(display), log)
        finally:
            _stop(proc)


def _probe_dock(display: str, timeout: float = READY_TIMEOUT) -> None:
    """Dock a throwaway XEMBED window into the system tray, re-asking until it is embedded."""
    conn = xdisplay.Display(display)
    try:
        screen = conn.screen()
        probe = screen.root.create_window(-1, -1, 16, 16, 0, screen.root_depth)
        xembed_info = conn.intern_atom("_XEMBED_INFO")
        probe.change_property(xembed_info, xembed_info, 32, [0, 1])  # version 0, mapped
        selection = conn.intern_atom(f"_NET_SYSTEM_TRAY_S{conn.get_default_screen()}")
        opcode = conn.intern_atom("_NET_SYSTEM_TRAY_OPCODE")

        def docked() -> bool:
            if probe.query_tree().parent != screen.root:
                return True
            manager = conn.get_selection_owner(selection)
            if manager != X.NONE:
                request = xevent.ClientMessage(
                    window=manager, client_type=opcode,
                    data=(32, [X.CurrentTime, 0, probe.id, 0, 0]),  # 0 = REQUEST_DOCK
                )
                manager.send_event(request, event_mask=X.NoEventMask)
                conn.flush()
            return False

        until_blocking(docked, what="tray host docking a probe icon", timeout=timeout)
        probe.destroy()
        conn.sync()
    finally:
        conn.close()


@dataclass(frozen=True)
class Dunst:
    """A running dunst notification daemon on a private bus and display."""

    display: str
    bus_address: str
    pid: int
    log: Path
    menu_dir: Path

    def ctl(self, *args: str) -> str:
        """Run ``dunstctl`` against this daemon and return its standard output."""
        result = subprocess.run(
            ["dunstctl", *args], env=bus_env(self.bus_address, DISPLAY=self.display),
            capture_output=True, text=True, timeout=READY_TIMEOUT, check=False,
        )
        if result.returncode != 0:
            raise DesktopServiceError(f"dunstctl {' '.join(args)}: {result.stderr}")
        return result.stdout

    def count(self, which: str = "displayed") -> int:
        """Return how many notifications are ``displayed``, ``waiting`` or in ``history``."""
        return int(self.ctl("count", which).strip())

    def history(self) -> list[dict[str, Any]]:
        """Return the closed notifications, newest first, as plain dicts (summary, body, …)."""
        raw = json.loads(self.ctl("history"))
        return [
            {key: field["data"] for key, field in entry.items()}
            for group in raw["data"] for entry in group
        ]

    def press(self, label: str) -> list[str]:
        """Press the button ``label`` of the newest notification via its context menu.

        Returns the menu dunst offered, one line per action, like ``#Yes (summary) [id,key]``.
        """
        menu = self.menu_dir / "menu.txt"
        menu.unlink(missing_ok=True)
        (self.menu_dir / "choice").write_text(f"#{label} (")
        self.ctl("context")
        until_blocking(menu.exists, what="dunst context menu")
        return menu.read_text().splitlines()

    def reset(self) -> None:
        """Close every notification and wait until none is displayed or waiting."""
        self.ctl("close-all")
        until_blocking(lambda: self.count("displayed") + self.count("waiting") == 0,
                   what="dunst close-all")

    def log_text(self) -> str:
        """Return what dunst wrote so far."""
        return _log_tail(self.log, 100_000)


@contextmanager
def dunst(display: str, bus_address: str) -> Iterator[Dunst]:
    """Run dunst with a private config on ``display`` and the bus; yield once it answers."""
    with tempfile.TemporaryDirectory(prefix="hitl-dunst-") as tmp:
        dmenu = Path(tmp, "dmenu")
        dmenu.write_text(_DMENU.format(dir=tmp))
        dmenu.chmod(0o755)
        config = Path(tmp, "dunstrc")
        config.write_text(_DUNSTRC.format(dmenu=dmenu))
        log = Path(tmp, "dunst.log")
        env = bus_env(bus_address, DISPLAY=display, XDG_CONFIG_HOME=tmp, XDG_CONFIG_DIRS=tmp)
        env.pop("WAYLAND_DISPLAY", None)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["dunst", "-config", str(config)],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )
        daemon = Dunst(display, bus_address, proc.pid, log, Path(tmp))
        try:
            def answers() -> bool:
                _check_alive(proc, "dunst", log)
                try:
                    daemon.ctl("is-paused")
                except DesktopServiceError:
                    return False
                return True

            until_blocking(answers, what="dunst")
            yield daemon
        finally:
            _stop(proc)
