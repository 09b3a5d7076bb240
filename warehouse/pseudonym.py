"""Stable keyed pseudonyms for personal names in returns (prescribers, pharmacists)."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = Path("secrets") / "pseudonym.key"


def load_key(home: Path) -> bytes:
    """The bureau's pseudonymisation key under JIXIAO_HOME, created (0600) on first use."""
    path = Path(home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def pseudonymise(key: bytes, facility: str, name: str | None) -> str | None:
    """'P-' + 10 hex chars of HMAC-SHA256(key, facility | name): same person in one facility → same pseudonym.

    Per facility, so the same name in two hospitals does not link them; without the key a pseudonym cannot be
    reversed by hashing a list of names.
    """
    if name is None or not str(name).strip():
        return None
    msg = f"{facility}|{' '.join(str(name).split())}".encode()
    return "P-" + hmac.new(key, msg, hashlib.sha256).hexdigest()[:10]
