"""Editors of the web tool: the users file, password hashes and signed tokens.

Users file (JSON, written by :func:`add_user` / ``biostress serve --add-user``)::

    {"users": [{"username": "anna", "municipality": "GM0505",
                "password_hash": "scrypt$16384$8$1$<salt, base64>$<hash, base64>"}]}

Passwords are hashed with scrypt (``hashlib.scrypt``, N = 2^14, r = 8, p = 1, 16-byte random salt,
32-byte key; RFC 7914) or, for files made elsewhere, checked as PBKDF2-HMAC-SHA256
(``pbkdf2_sha256$<iterations>$<salt>$<hash>``, RFC 8018). Comparison is constant-time
(:func:`hmac.compare_digest`). The plain password is never stored.

Tokens: ``base64url(payload JSON) + "." + base64url(HMAC-SHA256(secret, first part))`` with payload
``{"sub": username, "mun": municipality, "iat": issued, "exp": expires}`` (Unix seconds). A token is
accepted when its signature matches (constant-time), it has not expired and its user is still in the
users file with the same municipality. The secret is 32 random bytes, kept in ``<data dir>/token_secret``
(mode 0600) so tokens survive a restart, or only in memory without a data folder.

Anyone may read; writing (uploads, plans, moderation) needs the token of an editor of the
municipality of the run: no or a bad token -> 401, another municipality -> 403.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputDataError

__all__ = [
    "Authenticator",
    "User",
    "add_user",
    "hash_password",
    "load_users",
    "verify_password",
]

SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN = 2 ** 14, 8, 1, 32
TOKEN_TTL_S = 8 * 3600
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_MUNICIPALITY = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$key`` for ``password`` (module docstring)."""
    if not isinstance(password, str) or len(password) < 8:
        raise ConfigError("A password needs at least 8 characters.", hint="Choose a longer password.")
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_LEN, maxmem=64 * 1024 * 1024)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``stored`` scrypt or pbkdf2_sha256 hash (constant-time)."""
    if not isinstance(password, str) or not isinstance(stored, str) or len(password) > 1024:
        return False
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            if not (2 <= n <= 2 ** 20 and 1 <= r <= 32 and 1 <= p <= 16):
                return False
            salt, key = _unb64(parts[4]), _unb64(parts[5])
            got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(key),
                                 maxmem=256 * 1024 * 1024)
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            it = int(parts[1])
            if not 1000 <= it <= 10_000_000:
                return False
            salt, key = _unb64(parts[2]), _unb64(parts[3])
            got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, it, dklen=len(key))
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, key)


@dataclass(frozen=True)
class User:
    username: str
    municipality: str
    password_hash: str


def load_users(path: str | Path) -> dict[str, User]:
    """Read and check the users file (``{"users": [...]}`` or a bare list); username -> :class:`User`."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The users file {p} does not exist.",
                          hint="Create it with 'biostress serve --add-user' (or biostress.web.auth.add_user).") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"The users file {p} is not valid JSON ({e}).") from None
    rows = doc.get("users") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise ConfigError(f"The users file {p} must hold a list 'users'.")
    out: dict[str, User] = {}
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise ConfigError(f"{p}: user {i + 1} is not an object.")
        u, m, h = r.get("username"), r.get("municipality"), r.get("password_hash")
        if not isinstance(u, str) or not _USERNAME.match(u):
            raise ConfigError(f"{p}: user {i + 1} has no valid 'username' (letters, digits, _ . @ -).")
        if not isinstance(m, str) or not _MUNICIPALITY.match(m):
            raise ConfigError(f"{p}: user {u!r} has no valid 'municipality' code (e.g. GM0505).")
        if not isinstance(h, str) or h.split("$")[0] not in ("scrypt", "pbkdf2_sha256"):
            raise ConfigError(f"{p}: user {u!r} has no scrypt or pbkdf2_sha256 'password_hash'.",
                              hint="Set the password with 'biostress serve --add-user'.")
        if u in out:
            raise ConfigError(f"{p}: user {u!r} is listed twice.")
        out[u] = User(u, m, h)
    return out


def add_user(path: str | Path, username: str, municipality: str, password: str) -> User:
    """Add (or replace the password and municipality of) an editor in the users file ``path``
    (created when missing; written atomically with mode 0600)."""
    p = Path(path)
    if not _USERNAME.match(username or ""):
        raise ConfigError(f"Invalid username {username!r}.", hint="Use letters, digits and _ . @ - (at most 64).")
    if not _MUNICIPALITY.match(municipality or ""):
        raise ConfigError(f"Invalid municipality code {municipality!r}.", hint="Use the CBS code, e.g. GM0505.")
    users = load_users(p) if p.exists() else {}
    users[username] = User(username, municipality, hash_password(password))
    doc = {"users": [{"username": u.username, "municipality": u.municipality, "password_hash": u.password_hash}
                     for u in users.values()]}
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, p)
    return users[username]


def _secret(data_dir: Path | None) -> bytes:
    if data_dir is None:
        return secrets.token_bytes(32)
    p = data_dir / "token_secret"
    with contextlib.suppress(FileNotFoundError):
        b = p.read_bytes()
        if len(b) >= 32:
            return b
    data_dir.mkdir(parents=True, exist_ok=True)
    b = secrets.token_bytes(32)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(b)
    return b


class AuthError(InputDataError):
    """Authentication failed (401) or is not allowed (403: ``status``)."""

    def __init__(self, message: str, status: int = 401, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class Authenticator:
    """Logins and tokens for the editors of ``municipality`` (see the module docstring)."""

    def __init__(self, users: dict[str, User], municipality: str | None, data_dir: Path | None = None,
                 ttl_s: int = TOKEN_TTL_S, max_failures: int = 10, window_s: float = 300.0) -> None:
        self.users = users
        self.municipality = municipality
        self.ttl_s = int(ttl_s)
        self._secret = _secret(data_dir)
        self._fail: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.max_failures, self.window_s = max_failures, window_s
        # a fixed hash to spend the same time on unknown users as on known ones
        self._dummy = hash_password("not-a-real-password")

    def _too_many(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            f = [t for t in self._fail.get(key, []) if now - t < self.window_s]
            self._fail[key] = f
            return len(f) >= self.max_failures

    def _failed(self, key: str) -> None:
        with self._lock:
            self._fail.setdefault(key, []).append(time.monotonic())

    def login(self, username: Any, password: Any, client: str = "") -> dict[str, Any]:
        """Check the password and issue a token: ``{token, expires, user, municipality}``."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise AuthError("Give 'user' and 'password' as text.")
        key = f"{client}|{username}"
        if self._too_many(key) or self._too_many(f"{client}|*"):
            raise AuthError("Too many failed logins; wait a few minutes.", status=429)
        u = self.users.get(username)
        ok = verify_password(password, u.password_hash if u else self._dummy) and u is not None
        if not ok:
            self._failed(key)
            self._failed(f"{client}|*")
            raise AuthError("Unknown user or wrong password.")
        now = int(time.time())
        payload = {"sub": u.username, "mun": u.municipality, "iat": now, "exp": now + self.ttl_s}
        return {"token": self.sign(payload), "expires": payload["exp"], "user": u.username,
                "municipality": u.municipality, "editor": u.municipality == self.municipality}

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        sig = _b64(hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).digest())
        return f"{body}.{sig}"

    def verify(self, token: str | None) -> User:
        """The user of a valid token; :class:`AuthError` (401) otherwise."""
        if not token or not isinstance(token, str) or len(token) > 4096 or token.count(".") != 1:
            raise AuthError("Log in first (no valid token).", hint="POST /api/auth/login, then send "
                            "'Authorization: Bearer <token>'.")
        body, sig = token.split(".")
        want = _b64(hmac.new(self._secret, body.encode("ascii", "replace"), hashlib.sha256).digest())
        if not hmac.compare_digest(want, sig):
            raise AuthError("The token is not valid.", hint="Log in again.")
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            raise AuthError("The token is not valid.", hint="Log in again.") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int) or payload["exp"] < time.time():
            raise AuthError("The token has expired.", hint="Log in again.")
        u = self.users.get(str(payload.get("sub")))
        if u is None or u.municipality != payload.get("mun"):
            raise AuthError("The token's user is no longer an editor.", hint="Log in again.")
        return u

    def editor(self, authorization: str | None) -> User:
        """The user of an ``Authorization: Bearer <token>`` header, who must edit this run's municipality
        (401 without a valid token, 403 for another municipality)."""
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer":
                token = value.strip()
        u = self.verify(token)
        if self.municipality is None or u.municipality != self.municipality:
            raise AuthError(f"User {u.username!r} edits {u.municipality}, not this area "
                            f"({self.municipality or 'no municipality code'}).", status=403)
        return u
