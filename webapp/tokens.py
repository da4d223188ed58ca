"""API tokens: made by ``irs web token create``, stored only as their hash, looked up on every request.

A token is ``irs_`` and 43 random characters. The results bucket holds
``web/tokens/<sha256 of the token>.json`` (its name, whether it is an admin's,
when it was made, its quotas): what is stored cannot be used to sign in. Revoking deletes
it; a web process forgets what it looked up within ``CACHE_S``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time

from pydantic import BaseModel, ConfigDict, Field

from irs.aws import documents
from irs.aws.clients import AWS_ERRORS
from irs.contract import OWNER_NAME

PREFIX = "web/tokens/"
NAME = OWNER_NAME  # a token's name is the owner of what is sent with it
SECRET = re.compile(r"^irs_[A-Za-z0-9_-]{43}$")
CACHE_S = 10.0  # how long a web process may act on a revoked token


class TokenError(ValueError):
    """A token cannot be made or found; the message says why."""


class Limits(BaseModel):
    """A token's quotas (None: no limit of that kind): what its owner may have waiting, and send a day (UTC)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    max_waiting: int | None = Field(default=None, ge=1, le=10_000_000, description="Images sent and not yet "
                                    "answered")
    images_per_day: int | None = Field(default=None, ge=1, le=1_000_000_000, description="Images accepted in a "
                                       "UTC day")


class Token(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    name: str = Field(pattern=NAME)
    admin: bool
    created_at: float = Field(ge=0, le=1e11)
    limits: Limits = Field(default_factory=Limits)


def _key(secret: str) -> str:
    return f"{PREFIX}{hashlib.sha256(secret.encode()).hexdigest()}.json"


def create(name: str, admin: bool = False, limits: Limits | None = None) -> str:
    """A new token for ``name`` (with ``limits``: none by default); returns the secret, which is shown once and
    stored nowhere."""
    if not re.fullmatch(NAME, name):
        raise TokenError(f"{name!r} is not a token name: 1 to 40 of a-z, 0-9, _ and -, starting with a letter or digit")
    if any(token.name == name for token in listing()):
        raise TokenError(f"a token named {name} exists; revoke it first, or choose another name")
    secret = f"irs_{secrets.token_urlsafe(32)}"
    documents.create(_key(secret), Token(name=name, admin=admin, created_at=time.time(),
                                         limits=limits or Limits()).model_dump_json())
    return secret


def listing() -> list[Token]:
    found = []
    for key, _ in documents.listing(PREFIX):
        token = documents.read(key, Token)
        if token is not None:
            found.append(token)
    return sorted(found, key=lambda token: token.created_at)


def revoke(name: str) -> int:
    """Delete every token named ``name``; returns how many there were."""
    gone = 0
    for key, _ in documents.listing(PREFIX):
        token = documents.read(key, Token)
        if token is not None and token.name == name:
            documents.remove(key)
            gone += 1
    return gone


def limit(name: str, limits: Limits) -> int:
    """Give every token named ``name`` these ``limits``; returns how many there were. Web processes apply them
    within ``CACHE_S``."""
    changed = 0
    for key, _ in documents.listing(PREFIX):
        token = documents.read(key, Token)
        if token is not None and token.name == name:
            documents.put_body(key, token.model_copy(update={"limits": limits}).model_dump_json())
            changed += 1
    return changed


class Verifier:
    """Looks tokens up, remembering each answer for ``CACHE_S`` (a web process's view of the tokens)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, Token | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, secret: str) -> Token | None:
        if not SECRET.fullmatch(secret):
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._seen.get(secret)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        try:
            token = documents.read(_key(secret), Token)
        except AWS_ERRORS:
            return None  # refused while the bucket does not answer
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[secret] = (now, token)
        return token
