"""Where hitl-desk keeps its files and which relay local commands talk to.

One directory, ``HITL_HOME``, holds everything the relay and the local clients keep: the
database, the owner credential, the signing secret and keys.  Without it the platform's user
data directory is used (``~/.local/share/hitl-desk`` on Linux).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from hitl_desk.errors import ServerUrlError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Host names that never leave this machine."""
OWNER_TOKEN_FILE = "owner.token"
SECRET_FILE = "relay.secret"
DATABASE_FILE = "relay.db"
LAN_FILE = "lan.json"


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("hitl-desk", appauthor=False))


class Settings(NamedTuple):
    """The environment as hitl-desk reads it; build with ``Settings.from_env()``.

    A NamedTuple rather than a dataclass: ``dataclasses`` pulls in ``inspect``, about 8 ms of
    every agent-side command's start.
    """

    home: Path
    """``HITL_HOME``: the one directory for database, credentials and keys."""
    server_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    """``HITL_SERVER_URL``: the relay local commands talk to, and where the relay listens."""
    api_key: str | None = None
    """``HITL_API_KEY``: an agent key; when set, agent commands authenticate with it."""
    server_url_set: bool = False
    """Whether ``HITL_SERVER_URL`` was given explicitly."""
    e2ee: bool = False
    """``HITL_E2EE_ENABLED``: agent commands and the SDK seal content end to end by default."""
    lan: bool | None = None
    """``HITL_LAN`` (1/0): serve the LAN listener; unset: as ``lan.json`` says (see ``lan_choice``)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read ``HITL_HOME``, ``HITL_SERVER_URL`` and ``HITL_API_KEY``."""
        env = os.environ if environ is None else environ
        home = Path(env["HITL_HOME"]).expanduser() if env.get("HITL_HOME") else _default_home()
        url = (env.get("HITL_SERVER_URL") or "").strip().rstrip("/")
        if url:
            url = server_url(url, source="HITL_SERVER_URL")
        return cls(
            home=home,
            server_url=url or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
            api_key=(env.get("HITL_API_KEY") or "").strip() or None,
            server_url_set=bool(url),
            e2ee=(env.get("HITL_E2EE_ENABLED") or "").strip().lower() in ("1", "true", "yes", "on"),
            lan=_flag(env.get("HITL_LAN")),
        )

    def lan_choice(self) -> LanChoice:
        """Whether the relay serves the LAN, and on which addresses: ``HITL_LAN``, else ``lan.json``."""
        saved = LanChoice.load(self.home / LAN_FILE)
        return saved if self.lan is None else LanChoice(self.lan, saved.addresses)

    def save_lan_choice(self, choice: LanChoice) -> None:
        """Keep the LAN switch (the TUI's) for the next relay start."""
        write_private(self.home / LAN_FILE, json.dumps({"enabled": choice.enabled,
                                                        "addresses": list(choice.addresses)}))

    @property
    def database_path(self) -> Path:
        """The relay's SQLite file."""
        return self.home / DATABASE_FILE

    @property
    def owner_token_path(self) -> Path:
        """The owner credential (mode 0600) that local approvers read."""
        return self.home / OWNER_TOKEN_FILE

    @property
    def secret_path(self) -> Path:
        """The relay's token-signing secret (mode 0600)."""
        return self.home / SECRET_FILE

    @property
    def listen_address(self) -> tuple[str, int]:
        """Host and port taken from ``server_url``, for a relay started without flags."""
        parts = urlsplit(self.server_url)
        return parts.hostname or DEFAULT_HOST, parts.port or DEFAULT_PORT

    def read_owner_token(self) -> str | None:
        """The owner credential, or None when no relay has created one here yet."""
        try:
            return self.owner_token_path.read_text().strip() or None
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            from hitl_desk.errors import AuthenticationError

            why = "it is a directory" if isinstance(exc, IsADirectoryError) else str(getattr(exc, "strerror", exc))
            raise AuthenticationError(f"Cannot read the owner credential {self.owner_token_path} ({why}): "
                                      "remove it and restart the relay, which writes a new one.") from None

    def missing_credential_message(self, *, agent: bool = False) -> str:
        """What to tell a user who has no credential: where we looked and what to run."""
        looked = f"$HITL_HOME/{OWNER_TOKEN_FILE} ({self.owner_token_path}) does not exist"
        if agent:
            return (f"No credential: HITL_API_KEY is not set and {looked}. Set HITL_API_KEY to an agent "
                    "key (hitl-desk keys create --agent NAME), or start the relay once (hitl-desk relay) "
                    "to create the owner credential, or set HITL_HOME to the relay's directory.")
        return (f"No owner credential: {looked}. Start the relay once (hitl-desk relay) to create it, "
                "or set HITL_HOME to the relay's directory.")


class LanChoice(NamedTuple):
    """The LAN switch kept in ``HITL_HOME/lan.json``: on or off, and the addresses (empty: chosen)."""

    enabled: bool = False
    addresses: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path) -> LanChoice:
        """The saved choice; off when there is none or it cannot be read."""
        try:
            data = json.loads(path.read_text())
            addresses = tuple(str(a) for a in data.get("addresses") or ())
            return cls(data.get("enabled") is True, addresses)
        except (OSError, ValueError, AttributeError, TypeError):
            return cls()  # a damaged switch means LAN off: the safe side


def _flag(value: str | None) -> bool | None:
    if value is None or not value.strip():
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def server_url(text: str, *, source: str = "--url") -> str:
    """A relay base URL from what the user typed: ``host:port`` means ``http://host:port``.

    Raises ``ServerUrlError`` (naming ``source``) for anything that is not an http(s) address.
    """
    url = text.strip().rstrip("/")
    if "://" not in url:  # "localhost:1234" would otherwise parse as scheme "localhost"
        url = "http://" + url
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise ServerUrlError(f"{source}={text!r} is not a relay address; "
                             f"use http://HOST:PORT, e.g. http://{DEFAULT_HOST}:{DEFAULT_PORT}")
    return url


def write_private(path: Path, data: str) -> None:
    """Write a file only its owner can read (0600), creating the directory (0700).

    The new content replaces the old in one rename, so a reader (or a crash) never sees half
    a credential.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    temporary = path.with_name(f".{path.name}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
