"""The tray icon: a pillow-drawn image with a badge, shown through pystray in its own thread.

pystray is imported lazily: importing it without a ``DISPLAY`` raises. ``PYSTRAY_BACKEND``
(appindicator, gtk, xorg) picks the backend, as pystray itself reads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, ImageFont

from hitl_desk.display import visible, visible_line
from tray import xorg
from tray.state import APP_TITLE, Action, MenuEntry, MenuItemModel, Separator

if TYPE_CHECKING:
    import pystray  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

_View = tuple[int, str, tuple[MenuItemModel, ...], bool]
"""Badge count, tooltip, menu model and do-not-disturb: everything the icon shows."""

BADGE_CAP = 9
"""Counts above this show as "9+"."""

_SCALE = 4  # draw large, then downsample: pillow's shapes are not antialiased
_IDLE = (84, 98, 117, 255)
_ATTENTION = (232, 124, 18, 255)
_DND = (70, 74, 82, 255)
_GLYPH = (255, 255, 255, 255)
_DND_GLYPH = (170, 175, 184, 255)
_BADGE = (211, 47, 47, 255)
_DND_BADGE = (120, 124, 132, 255)
_TRANSPARENT = (0, 0, 0, 0)


def badge_text(pending: int) -> str:
    """Return the badge text for ``pending`` (empty for none, "9+" above the cap)."""
    if pending <= 0:
        return ""
    return str(pending) if pending <= BADGE_CAP else f"{BADGE_CAP}+"


def render_icon(pending: int, *, attention: bool, dnd: bool, size: int = 64) -> Image.Image:
    """Draw the tray icon: a speech bubble on a disc, with a count badge; muted in DnD."""
    big = size * _SCALE
    image = Image.new("RGBA", (big, big), _TRANSPARENT)
    draw = ImageDraw.Draw(image)
    disc = _DND if dnd else _ATTENTION if attention else _IDLE
    draw.ellipse((0, 0, big - 1, big - 1), fill=disc)
    if dnd:
        _draw_dnd_bar(draw, big)
    else:
        _draw_bubble(draw, big)
    text = badge_text(pending)
    if text:
        _draw_badge(draw, big, text, _DND_BADGE if dnd else _BADGE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _draw_bubble(draw: ImageDraw.ImageDraw, big: int) -> None:
    """Draw the speech bubble with a question mark: someone asks something."""
    left, top, right, bottom = big * 0.22, big * 0.26, big * 0.78, big * 0.64
    draw.rounded_rectangle((left, top, right, bottom), radius=big * 0.09, fill=_GLYPH)
    tail = [(big * 0.34, bottom - 1), (big * 0.30, big * 0.78), (big * 0.48, bottom - 1)]
    draw.polygon(tail, fill=_GLYPH)
    font = _font(int(big * 0.30))
    draw.text(((left + right) / 2, (top + bottom) / 2), "?", fill=_IDLE, font=font, anchor="mm")


def _draw_dnd_bar(draw: ImageDraw.ImageDraw, big: int) -> None:
    """Draw the do-not-disturb sign: a horizontal bar across the disc."""
    height = big * 0.14
    draw.rounded_rectangle(
        (big * 0.2, big / 2 - height / 2, big * 0.8, big / 2 + height / 2),
        radius=height / 2, fill=_DND_GLYPH,
    )


def _draw_badge(
    draw: ImageDraw.ImageDraw, big: int, text: str, fill: tuple[int, int, int, int]
) -> None:
    """Draw the count badge in the top-right corner, ringed so it reads on any panel."""
    diameter = big * (0.56 if len(text) > 1 else 0.50)
    ring = big * 0.03
    box = (big - diameter, 0, big - 1, diameter - 1)
    draw.ellipse(box, fill=_GLYPH)
    draw.ellipse((box[0] + ring, box[1] + ring, box[2] - ring, box[3] - ring), fill=fill)
    font = _font(int(diameter * (0.52 if len(text) > 1 else 0.62)))
    center = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    draw.text(center, text, fill=_GLYPH, font=font, anchor="mm")


def _font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Return pillow's bundled font at ``pixels`` (a bitmap font where FreeType is missing)."""
    return ImageFont.load_default(size=max(pixels, 1))


def build_menu(
    model: Sequence[MenuItemModel], on_action: Callable[[Action], None]
) -> pystray.Menu:
    """Turn a menu model into a ``pystray.Menu`` whose items call ``on_action(entry.action)``."""
    import pystray

    return pystray.Menu(*(_build_item(entry, on_action) for entry in model))


def _build_item(entry: MenuItemModel, on_action: Callable[[Action], None]) -> pystray.MenuItem:
    """Turn one model entry into a ``pystray.MenuItem`` (or the separator)."""
    import pystray

    if isinstance(entry, Separator):
        return pystray.Menu.SEPARATOR
    # The model's labels are already safe (tray.state); escaping again changes nothing then,
    # and keeps the icon safe from a label that ever skipped it.
    label = visible_line(entry.label)
    if entry.submenu:
        return pystray.MenuItem(
            label, build_menu(entry.submenu, on_action), enabled=entry.enabled
        )
    value = entry.checked
    checked = None if value is None else (lambda item: value)
    return pystray.MenuItem(
        label, _activator(entry, on_action), checked=checked,
        default=entry.default, enabled=entry.enabled,
    )


def _activator(
    entry: MenuEntry, on_action: Callable[[Action], None]
) -> Callable[[Any, Any], None]:
    """Return the pystray callback of ``entry``; it runs in the tray thread."""
    action = entry.action

    def activate(icon: Any, item: Any) -> None:
        if action is None:
            return
        try:
            on_action(action)
        except Exception:
            # The tray thread is a loop boundary: a failing handler must not kill the icon.
            log.exception("tray menu action %r failed", action)

    return activate


class TrayIcon:
    """A pystray icon run in a daemon thread, redrawn from the tray state with ``update``."""

    def __init__(
        self, on_action: Callable[[Action], None], *, name: str = APP_TITLE, size: int = 64
    ) -> None:
        self._on_action = on_action
        self._name = name
        self._size = size
        self._icon: pystray.Icon | None = None
        self._thread: threading.Thread | None = None
        self._shown = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()  # pystray's xorg dispatcher is not reentrant
        self._view: _View = (0, name, (), False)  # what the caller asked for last
        self._applied: _View = self._view  # what pystray shows now
        self.docked = False  # a system tray shows the icon (checked on xorg, assumed elsewhere)

    @property
    def running(self) -> bool:
        """True while the icon's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def backend(self) -> str:
        """The pystray backend in use (``xorg``, ``gtk``, ``appindicator``), once started."""
        if self._icon is None:
            return ""
        return type(self._icon).__module__.rsplit(".", 1)[-1].lstrip("_")

    @property
    def has_menu(self) -> bool:
        """False on backends where a click runs the default item instead of a menu (xorg)."""
        return bool(self._icon is not None and self._icon.HAS_MENU)

    @property
    def icon(self) -> pystray.Icon | None:
        """The pystray icon once started; its ``menu`` items can be called with it."""
        return self._icon

    def start(self, timeout: float = 5.0) -> None:
        """Create the icon, run it in a daemon thread, and return once it is shown."""
        import pystray

        if self.running:
            return
        with self._lock:
            pending, _, model, dnd = self._view
            # Named plainly at first: the xorg window gets its name before unicode_title can
            # hook in, and the _sync below gives it the real tooltip.
            self._applied = (pending, self._name, model, dnd)
        self._shown.clear()
        self._error = None
        self._icon = icon = pystray.Icon(
            self._name,
            icon=render_icon(pending, attention=pending > 0, dnd=dnd, size=self._size),
            title=self._name,
            menu=build_menu(model, self._on_action),
        )
        xorg.unicode_title(icon)
        xorg.listen_for_clicks(icon)
        xorg.dock_once(icon)
        # run() in a plain thread: run_detached() on xorg runs setup twice and stop() hangs.
        self._thread = threading.Thread(
            target=self._run, args=(icon,), name="tray-icon", daemon=True
        )
        self._thread.start()
        with xorg.flushing(icon):
            shown = self._shown.wait(timeout)
        if not shown:
            raise TimeoutError(f"tray icon not shown after {timeout:.1f} s")
        if self._error is not None:
            raise RuntimeError("tray icon loop failed to start") from self._error
        with self._lock:
            self._sync()  # an update() may have come in while the icon was starting
        self.docked = xorg.ensure_docked(icon, min(timeout, xorg.DOCK_TIMEOUT))
        if not self.docked:
            log.warning("tray icon is not docked: no system tray, or it ignored the icon")

    def _run(self, icon: pystray.Icon) -> None:
        """Body of the tray thread: pystray's loop until ``stop``."""
        try:
            icon.run(setup=self._setup)
        except Exception as exc:
            # The tray thread is a loop boundary: record the failure for start() and log it.
            self._error = exc
            log.exception("tray icon loop failed")
        finally:
            self._shown.set()  # never leave start() waiting on a dead loop

    def _setup(self, icon: pystray.Icon) -> None:
        """pystray setup callback: show the icon, then let ``start`` return."""
        try:
            icon.visible = True
        finally:
            self._shown.set()

    def update(
        self, pending: int, tooltip: str, menu_model: Sequence[MenuItemModel], *, dnd: bool = False
    ) -> None:
        """Redraw the badge, tooltip and menu; safe from any thread, before or after start."""
        with self._lock:
            self._view = (pending, visible(tooltip), tuple(menu_model), dnd)
            self._sync()

    def _sync(self) -> None:
        """Push what changed between the shown and the wanted view to pystray (lock held)."""
        icon = self._icon
        if icon is None or not self._shown.is_set() or not self.running:
            return
        pending, tooltip, model, dnd = self._view
        shown = self._applied
        if self._view == shown:
            return
        with xorg.flushing(icon):
            if (pending, dnd) != (shown[0], shown[3]):
                icon.icon = render_icon(pending, attention=pending > 0, dnd=dnd, size=self._size)
            if tooltip != shown[1]:
                icon.title = tooltip
            if model != shown[2]:
                icon.menu = build_menu(model, self._on_action)
        self._applied = self._view

    def stop(self, timeout: float = 5.0) -> None:
        """Remove the icon and join its thread."""
        with self._lock:
            icon, thread = self._icon, self._thread
            self._icon = self._thread = None
        if icon is None or thread is None:
            return
        if thread.is_alive():
            with xorg.flushing(icon):
                icon.stop()
                thread.join(timeout)
            if thread.is_alive():
                log.warning("tray icon thread did not stop within %.1f s", timeout)
