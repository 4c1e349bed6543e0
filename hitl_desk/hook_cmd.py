"""``hitl-desk hook CLIENT EVENT``: a command hook that hands the client's hook JSON to the relay.

Codex, Gemini CLI and Claude Code before HTTP hooks run a command per hook point, and some on
every tool call, so this module imports only the standard library (json, http.client; no
aiohttp, no pydantic):
it reads the JSON (stdin, or for Codex's ``notify`` the last argument), POSTs it to
``/api/v1/hooks/CLIENT/EVENT`` with ``HITL_API_KEY``, and prints what the relay answers, which
is already the JSON the client reads.

Whatever goes wrong (no relay, no key, a refused call, a timeout) the command prints ``{}`` and
exits 0: every client reads that as "no decision" and goes on with its own prompt.  It never
allows anything by itself.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse

DEFAULT_URL = "http://127.0.0.1:8765"
NO_DECISION = "{}"
SLACK_SECONDS = 15.0
"""How much longer than the question's timeout the command waits for the relay's answer."""
USAGE = ("usage: hitl-desk hook CLIENT EVENT [--timeout SECONDS] [--url URL] [JSON]\n"
         "  CLIENT: claude-code, codex or gemini; EVENT: the hook event (PermissionRequest, Stop, ...,\n"
         "  Codex's notify); the hook JSON on stdin (Codex notify: as the last argument).\n"
         "  --timeout: seconds the human has, below the hook's own timeout (default: the relay's 570).")


def _say(message: str) -> None:
    print(f"hitl-desk hook: {message}", file=sys.stderr)


class Line:
    """The command line: CLIENT, EVENT, ``--timeout``, ``--url`` and an inline JSON argument."""

    def __init__(self, client: str, event: str, timeout: float | None, url: str | None, inline: str | None) -> None:
        self.client, self.event, self.timeout, self.url, self.inline = client, event, timeout, url, inline


def _parse(argv: list[str]) -> Line | None:
    """The command line read, or None when it is not usable."""
    positional: list[str] = []
    timeout: float | None = None
    url: str | None = None
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help"):
            return None
        if arg == "--url" or arg.startswith("--url="):
            url = arg.partition("=")[2] if "=" in arg else next(args, "")
        elif arg == "--timeout" or arg.startswith("--timeout="):
            value = arg.partition("=")[2] if "=" in arg else next(args, "")
            try:
                timeout = float(value)
            except ValueError:
                return None
        else:
            positional.append(arg)
    if len(positional) not in (2, 3):
        return None
    inline = positional[2] if len(positional) == 3 else None
    return Line(positional[0], positional[1], timeout, url, inline)


def _endpoint(line: Line) -> urllib.parse.SplitResult:
    base = (line.url or os.environ.get("HITL_SERVER_URL") or DEFAULT_URL).strip().rstrip("/")
    if "://" not in base:
        base = "http://" + base
    path = f"/api/v1/hooks/{urllib.parse.quote(line.client, safe='')}/{urllib.parse.quote(line.event, safe='')}"
    query = f"timeout={line.timeout:g}" if line.timeout is not None else ""
    parts = urllib.parse.urlsplit(base)
    return parts._replace(path=parts.path + path, query=query)


def _post(url: urllib.parse.SplitResult, body: bytes, key: str, timeout: float) -> tuple[int, bytes]:
    """POST straight to the relay: http.client, not urllib.request, so no HTTP(S)_PROXY setting can
    send a loopback call through a proxy (and urllib.request's own imports stay unloaded)."""
    import http.client

    if url.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(url.hostname or "", url.port,
                                                                             timeout=timeout)
    elif url.scheme == "http":
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    else:
        raise ValueError(f"not an http(s) relay address: {url.geturl()}")
    try:
        connection.request("POST", url.path + (f"?{url.query}" if url.query else ""), body=body, headers={
            "Content-Type": "application/json", "X-API-Key": key, "User-Agent": "hitl-desk-hook"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def relay_answer(line: Line, body: bytes) -> str | None:
    """The relay's answer for this hook, or None (said on stderr) when there is none to give."""
    key = (os.environ.get("HITL_API_KEY") or "").strip()
    if not key:
        _say("HITL_API_KEY is not set; the client decides alone (hitl-desk keys create --agent NAME).")
        return None
    try:
        status, raw = _post(_endpoint(line), body, key, (line.timeout or 570.0) + SLACK_SECONDS)
        text = raw.decode("utf-8")
    except (OSError, ValueError) as exc:  # refused, reset, timed out, a bad URL or a bad answer
        _say(f"no relay answered ({exc}); the client decides alone.")
        return None
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if status != 200:
        _say(f"the relay refused the hook ({status}: {_error_message(answer)}); the client decides alone.")
        return None
    if not isinstance(answer, dict):
        _say("the relay's answer is not a JSON object; the client decides alone.")
        return None
    return text


def _error_message(answer: object) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}"
    return "no error body"


def main(argv: list[str]) -> int:
    """Run the hook; the exit code is 0 whatever happens, 1 for a wrong command line (which every
    client reads as a failed hook that decides nothing, where 2 would block)."""
    parsed = _parse(argv)
    if parsed is None:
        print(USAGE, file=sys.stderr)
        return 1 if argv not in (["-h"], ["--help"]) else 0
    body = parsed.inline.encode("utf-8", "surrogateescape") if parsed.inline is not None else sys.stdin.buffer.read()
    answer = relay_answer(parsed, body)
    sys.stdout.write((answer if answer is not None else NO_DECISION) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
