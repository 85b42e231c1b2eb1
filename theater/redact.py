"""Secrets never reach the database: the redactor the boundary applies to the
canonical values of a crossing before they are hashed and stored.

The ``http-client`` handler's settings name the secrets: ``redact_env`` (environment
variables, whose values the actor reads through ``wasi:cli/environment``) and
``redact_headers`` (HTTP header names, e.g. ``authorization``). Each secret is recorded
as a **token**, ``redacted:`` + the hex HMAC-SHA256 of the value keyed by a salt that
the chain header keeps (the handler's ``salt`` setting: random per recording unless
the manifest sets it):

- every string (and ``list<u8>``) of every crossing, in both directions, has each
  secret environment value replaced by that value's token. So the recorded
  ``get-environment`` result holds the token, and in replay the actor *receives the
  token where it received the secret*: what it derives from it (``Bearer <token>``)
  is what the recording holds, and its requests match their recording.
- the value of a redacted header, in a ``send-http`` request or response, is replaced
  by the token of the value (after the substitution above), whatever it holds.

Replay knows no secret (it never reads the environment); it applies the header rule
with the recorded salt, which turns the replayed request into the recorded one. Limits
(docs/http.md): a token is a salted hash, so a low-entropy secret (a PIN, a word) can be
guessed by whoever reads the header's salt; a secret that the actor transforms
(base64, a substring) before sending is not recognized, except inside a redacted
header; the live request carries the real value, which the server sees.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .canonical import BYTES_TAG, decode_tagged_bytes, encode_tagged_bytes

__all__ = ["TOKEN_PREFIX", "Redactor", "redactor_from_header"]

TOKEN_PREFIX = "redacted:"
HTTP_CLIENT = "theater:simple/http-client"

Transform = Callable[[Any], Any]


@dataclass(frozen=True, kw_only=True)
class Redactor:
    """``salt``: the HMAC key; ``headers``: lower-case header names whose values are
    tokenized; ``secrets``: the live secret values (record mode only; empty in replay);
    ``learns``: ``theater serve``'s, which :meth:`learn` s the values of the redacted
    headers of each served request as further secrets, so every crossing is scrubbed."""

    salt: bytes
    headers: frozenset[str] = frozenset()
    secrets: tuple[str, ...] = ()
    learns: bool = False
    _tokens: tuple[tuple[str, str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # longest first, so a secret that contains another is replaced whole
        pairs = tuple((s, self.token(s)) for s in sorted(set(self.secrets), key=len, reverse=True) if s)
        object.__setattr__(self, "_tokens", pairs)

    def learn(self, values: Iterable[str]) -> None:
        """Secrets found at run time (a served request's redacted header values): from now
        on replaced by their tokens wherever they appear, like ``redact_env`` values. They
        stay secrets for the rest of the session (the actor may keep one in its state)."""
        known = {s for s, _ in self._tokens}
        new = [v for v in values if v and v not in known]
        if new:
            merged = {s for s, _ in self._tokens} | set(new)
            pairs = tuple((v, self.token(v)) for v in sorted(merged, key=len, reverse=True))
            object.__setattr__(self, "_tokens", pairs)  # the one mutable part: the live secrets

    def incoming(self, headers: Iterable[tuple[str, str]]) -> list[str]:
        """The secrets of a served request's ``headers``: each redacted header's value and,
        when it reads ``<scheme> <credentials>`` (``Bearer sk-...``), the credentials on
        their own too (8 characters or more), which a request may also carry elsewhere."""
        out = []
        for k, v in headers:
            if k.lower() in self.headers and v:
                out.append(v)
                scheme, space, cred = v.partition(" ")
                if space and scheme.isalnum() and len(cred.strip()) >= 8:
                    out.append(cred.strip())
        return out

    def token(self, value: str) -> str:
        return TOKEN_PREFIX + hmac.new(self.salt, value.encode(), hashlib.sha256).hexdigest()

    # -- the substitution of secret values ------------------------------------

    def hide(self, text: str) -> str:
        for secret, token in self._tokens:
            if secret in text:
                text = text.replace(secret, token)
        return text

    def scrub(self, value: Any) -> Any:
        """A canonical value with every secret replaced by its token (strings, tagged
        bytes, inside lists and objects)."""
        if not self._tokens:
            return value
        if isinstance(value, str):
            if value.startswith(BYTES_TAG):
                raw = decode_tagged_bytes(value)
                if raw is not None:
                    for secret, token in self._tokens:
                        raw = raw.replace(secret.encode(), token.encode())
                    return encode_tagged_bytes(raw)
            return self.hide(value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value

    # -- the header rule ------------------------------------------------------

    def _headers(self, message: Any) -> Any:
        """An encoded http-request/http-response with redacted header values tokenized."""
        if not self.headers or not isinstance(message, dict) or not isinstance(message.get("headers"), list):
            return message
        out = []
        for pair in message["headers"]:
            if (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                    and pair[0].lower() in self.headers and isinstance(pair[1], str)):
                pair = [pair[0], self.token(pair[1])]
            out.append(pair)
        return {**message, "headers": out}

    def for_crossing(self, interface: str, function: str) -> tuple[Transform, Transform] | None:
        """``(args, result)`` transforms for one crossing (versionless interface), or
        None when nothing of it can hold a secret."""
        if interface == HTTP_CLIENT and function == "send-http":
            def args(enc: Any) -> Any:
                enc = self.scrub(enc)
                if not isinstance(enc, dict):
                    return enc
                out = {**enc, "req": self._headers(enc.get("req"))}
                if isinstance(enc.get("trailers"), list):  # a wasi:http request's (refused, but recorded)
                    out["trailers"] = self._headers({"headers": enc["trailers"]})["headers"]
                return out

            def result(enc: Any) -> Any:
                enc = self.scrub(enc)
                if isinstance(enc, dict) and "ok" in enc:
                    return {**enc, "ok": self._headers(enc["ok"])}
                return enc

            return args, result
        if not self._tokens and not self.learns:
            return None
        return self.scrub, self.scrub


def redactor_from_header(handlers: Iterable[Mapping[str, Any]], *, secrets: Iterable[str] = ()) -> Redactor | None:
    """The redactor of a chain, from its header's handler settings (the http-client
    handler's ``salt`` and ``redact_headers``); None when nothing is redacted."""
    for h in handlers:
        if not isinstance(h, Mapping) or h.get("type") != "http-client":
            continue
        salt = h.get("salt")
        heads = h.get("redact_headers") or []
        envs = h.get("redact_env") or []
        if not isinstance(salt, str) or not (heads or envs):
            return None
        try:
            key = bytes.fromhex(salt)
        except ValueError:
            return None
        names = frozenset(str(n).lower() for n in heads if isinstance(n, str))
        return Redactor(salt=key, headers=names, secrets=tuple(secrets))
    return None


def redactor_for(handlers: Iterable[Any]) -> Redactor | None:
    """The redactor of a recording, from its live handlers: the http-client handler's
    settings and, for each ``redact_env`` name, the value the environment handler gives
    the actor (a name the manifest sets in ``vars`` is refused: the manifest is stored
    in the chain header, so a secret there would be stored too)."""
    from .errors import ManifestError

    client = next((h for h in handlers if getattr(h, "type", None) == "http-client"), None)
    if client is None:
        return None
    env_handler = next((h for h in handlers if getattr(h, "type", None) == "environment"), None)
    secrets: list[str] = []
    names = list(getattr(client, "redact_env", []))
    if env_handler is not None:
        literal = env_handler.config.settings.get("vars", {})
        for name in names:
            if name in literal:
                raise ManifestError(
                    f"{env_handler.manifest.path}: `redact_env` names {name}, which the environment handler's "
                    "`vars` sets in the manifest (stored in the chain header): put it in the host environment "
                    "and list it in `allowed_vars` instead")
        values = dict(env_handler.env)
        secrets = [values[n] for n in names if values.get(n)]
    return redactor_from_header([client.header_settings()], secrets=secrets)
