"""The phone app on the LAN listener: ``/`` and ``/pair`` (the page) and ``/app/{name}`` (its assets).

The app is built from ``relay/web`` (``npm ci && npm run build``, run by the README's set-up
command and ``scripts/test``) into ``relay/web/dist``.  Without a build the relay still runs and
``/pair`` says how to build it.  Every answer carries a CSP of ``default-src 'self'`` (the page has
no inline script) and ``nosniff``; the pairing secret is in the link's fragment, which browsers
never send, so nothing here ever sees it.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>hitl-desk: phone app not built</title>
<h1>The phone app is not built</h1>
<p>This relay was installed without Node.js, so it has no phone app to serve. On the desk, install
Node.js and npm, then run <code>scripts/build-web</code> (or <code>npm ci &amp;&amp; npm run build</code>
in <code>relay/web</code>) and restart the relay. Pairing from another desktop works meanwhile:
<code>hitl-desk pair URL</code>.</p>
"""


def _headers(content_type: str) -> dict[str, str]:
    return {**SECURITY_HEADERS, "Content-Type": content_type}


async def page(request: web.Request) -> web.Response:
    """The app's page (``/`` and ``/pair``), or how to build it."""
    index = DIST / "index.html"
    if not index.is_file():
        return web.Response(status=503, body=NOT_BUILT.encode(), headers=_headers("text/html; charset=utf-8"))
    return web.Response(body=index.read_bytes(), headers=_headers("text/html; charset=utf-8"))


async def asset(request: web.Request) -> web.Response:
    """One built asset by its fixed name (nothing else under ``/app`` exists)."""
    name = request.match_info["name"]
    kind = ASSETS.get(name)
    path = DIST / name
    if kind is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.Response(body=path.read_bytes(), headers=_headers(f"{kind}; charset=utf-8"))


async def no_icon(request: web.Request) -> web.Response:
    """No favicon (browsers ask for one; a 404 would be an error in the page's console)."""
    return web.Response(status=204, headers=SECURITY_HEADERS)


def add_phone_routes(app: web.Application) -> None:
    """Mount the phone app on a LAN listener's application."""
    app.router.add_get("/", page)
    app.router.add_get("/pair", page)
    app.router.add_get("/app/{name}", asset)
    app.router.add_get("/favicon.ico", no_icon)
