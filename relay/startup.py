"""What the relay checks before it serves: its directory, its files and their modes.

Every failure here is a ``RelayStartError`` whose message is one line saying what is wrong and
how to recover; the ``relay`` command prints it and exits non-zero instead of a traceback.
``HITL_HOME`` holds plaintext prompts and answers, so the directory is kept 0700 and the files
in it 0600; SQLite creates ``-wal`` and ``-shm`` with the database file's own mode, so a
database created 0600 before SQLite opens it leaves no moment where they are readable by others.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from hitl_desk.errors import RelayStartError
from hitl_desk.settings import DATABASE_FILE, OWNER_TOKEN_FILE, SECRET_FILE

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
PRIVATE_FILES = (DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm", SECRET_FILE, OWNER_TOKEN_FILE)


def prepare_home(home: Path, database: Path) -> None:
    """Create ``home`` (0700) and an empty database file (0600), tightening looser modes."""
    try:
        home.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except FileExistsError:
        raise RelayStartError(f"HITL_HOME {home} is a file, not a directory: move it away or set "
                              "HITL_HOME to a directory.") from None
    except OSError as exc:
        raise RelayStartError(f"cannot create HITL_HOME {home} ({exc.strerror}): create it yourself "
                              "(mode 700) or set HITL_HOME to a directory you own.") from None
    if not os.access(home, os.R_OK | os.W_OK | os.X_OK):
        raise RelayStartError(f"HITL_HOME {home} is not readable and writable by this user: fix its "
                              f"owner or mode (chmod 700 {home}), or set HITL_HOME elsewhere.")
    tightened = _tighten(home, DIR_MODE)
    for name in PRIVATE_FILES:
        tightened += _tighten(home / name, FILE_MODE)
    if database.parent != home:
        database.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        tightened += _tighten(database, FILE_MODE)
    if tightened:
        log.warning("tightened permissions (they hold prompts and answers): %s", ", ".join(tightened))
    _create_private(database)


def _tighten(path: Path, mode: int) -> list[str]:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RelayStartError(f"cannot read {path} ({exc.strerror}): fix its owner or mode, or set "
                              "HITL_HOME elsewhere.") from None
    wanted = stat.S_ISDIR if mode == DIR_MODE else stat.S_ISREG
    if not wanted(st.st_mode) or st.st_uid != os.geteuid() or not stat.S_IMODE(st.st_mode) & 0o077:
        return []  # not ours to change (a link, something odd, another user's) or already private
    os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    return [f"{path} {stat.S_IMODE(st.st_mode):o}→{stat.S_IMODE(st.st_mode) & mode:o}"]


def _create_private(database: Path) -> None:
    if database.is_dir():
        raise RelayStartError(f"the database {database} is a directory: move it away so the relay "
                              "can create the file.")
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    except OSError as exc:
        raise RelayStartError(f"cannot create the database {database} ({exc.strerror}): fix the "
                              "directory's owner or mode, or set HITL_HOME elsewhere.") from None


def read_secret(path: Path) -> bytes | None:
    """The signing secret in ``path`` (64 hex digits), or None when there is none yet."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RelayStartError(f"cannot read {path} ({_why(exc)}): remove it and start again "
                              "(a new owner credential is issued; agent API keys keep working).") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise RelayStartError(f"{path} is damaged (not 64 hex digits): remove it and start again "
                              "(a new owner credential is issued; agent API keys keep working).")
    return secret


def read_owner_token(path: Path) -> str | None:
    """The owner credential in ``path``, or None when missing (a new one is then written)."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RelayStartError(f"cannot read the owner credential {path} ({_why(exc)}): remove it "
                              "(rm -r) and start again; the relay writes a new one.") from None


def write_owner_token(path: Path, token: str) -> None:
    """Write the owner credential (0600), or say why it cannot be."""
    from hitl_desk.settings import write_private

    try:
        write_private(path, token)
    except OSError as exc:
        raise RelayStartError(f"cannot write the owner credential {path} ({exc.strerror}): remove "
                              "whatever is there (rm -r) and start again.") from None


def _why(exc: Exception) -> str:
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return "not text"
