"""``edge-emojify web --token / --rotate``: read or replace ``[web] token`` in the config file.

The file is edited as text, line by line, so the operator's comments and layout survive; the
result is parsed and validated before it replaces the file, which keeps its mode (0640) and
owner, and is swapped in by rename so a crash never leaves half a config.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from pathlib import Path

from edge_emojify import config as config_mod
from edge_emojify.atomic import write_atomically
from edge_emojify.errors import UserError

SECTION = re.compile(r"^\s*\[\s*web\s*\]\s*(#.*)?$")
ANY_SECTION = re.compile(r"^\s*\[")
TOKEN_LINE = re.compile(r"^\s*token\s*=")
COMMENTED_TOKEN = re.compile(r"^\s*#\s*token\s*=")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def with_token(text: str, token: str) -> str:
    """``text`` with ``[web] token`` set: the key replaced, else its commented example, else added."""
    lines = text.splitlines()
    line = f'token = "{token}"'
    start = next((i for i, s in enumerate(lines) if SECTION.match(s)), None)
    if start is None:
        return text.rstrip("\n") + ("\n\n" if text.strip() else "") + f"[web]\n{line}\n"
    end = next((i for i in range(start + 1, len(lines)) if ANY_SECTION.match(lines[i])), len(lines))
    for pattern in (TOKEN_LINE, COMMENTED_TOKEN):
        for i in range(start + 1, end):
            if pattern.match(lines[i]):
                lines[i] = line
                return "\n".join(lines) + "\n"
    lines.insert(start + 1, line)
    return "\n".join(lines) + "\n"


def rotate(path: Path) -> str:
    """Write a new random token into ``path``; returns it. One-line UserError on any failure."""
    try:
        text = path.read_text(encoding="utf-8")
        st = path.stat()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}; run with sudo") from None
    token = new_token()
    updated = with_token(text, token)
    try:
        config_mod.from_dict(tomllib.loads(updated), str(path))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path} is not valid TOML ({exc}); fix it first") from None
    try:
        owner = (st.st_uid, st.st_gid) if os.geteuid() == 0 else None
        write_atomically(path, updated.encode("utf-8"), st.st_mode & 0o7777, owner)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}; run with sudo") from None
    return token
