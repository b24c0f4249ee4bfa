"""Secrets kept in the data directory: generated on the first start that needs them, so
tokens and S3 keys survive restarts.

The directory is touched only for what the configuration leaves out. A container with
every secret in its environment writes nothing (it may run as a non-root user in a
read-only directory), and `s3proxy token`/`keys` read what the server kept but never
generate secrets of their own, which would not match the server's.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from s3proxy.config import Settings

SECRETS_FILE = "secrets.json"

_NAMES = {
    "jwt": "AUTH_JWT_SECRET",
    "s3": "S3_PROTOCOL_ACCESS_KEY_ID/_SECRET",
}


def _generate(path: Path) -> dict[str, str]:
    values = {
        "jwt_secret": secrets.token_urlsafe(48),
        "s3_access_key_id": secrets.token_hex(16),
        "s3_access_key_secret": secrets.token_hex(32),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process started at the same time and won
        return _read(path) or values
    except OSError as exc:
        raise SystemExit(
            f"s3proxy: cannot keep generated secrets in {path} ({exc.strerror}): set "
            f"{_NAMES['jwt']} and {_NAMES['s3']}, or point S3PROXY_DATA_DIR (--data-dir) at a writable directory"
        ) from None
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def _read(path: Path) -> dict[str, str] | None:
    """The kept secrets, None when there are none; a file we cannot use ends the start."""
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not JSON"
        raise SystemExit(f"s3proxy: cannot read {path} ({reason})") from None


def fill_secrets(settings: Settings, *, create: bool, need: tuple[str, ...] = ("jwt", "s3")) -> Settings:
    """`settings` with the secrets in `need` ("jwt", "s3") that it lacks taken from the data
    directory: generated there first when `create`, else a one-line SystemExit."""
    missing = [what for what in need
               if not (settings.jwt_secret if what == "jwt" else settings.s3_protocol_access_key_id)]
    if not missing:
        return settings  # everything is configured: nothing to read, nothing to write
    path = Path(settings.data_dir).resolve() / SECRETS_FILE
    kept = _read(path) or (_generate(path) if create else None)
    if kept is None:
        unset = ", ".join(_NAMES[what] for what in missing)
        raise SystemExit(f"s3proxy: found neither {path} nor {unset} in the environment: pass the "
                         "server's --data-dir (or set S3PROXY_DATA_DIR), or set the secrets")
    changes: dict[str, str] = {}
    if "jwt" in missing:
        changes["jwt_secret"] = kept["jwt_secret"]
    if "s3" in missing:
        changes["s3_protocol_access_key_id"] = kept["s3_access_key_id"]
        changes["s3_protocol_access_key_secret"] = kept["s3_access_key_secret"]
    return settings.with_overrides(**changes)
