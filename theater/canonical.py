"""The two canonical forms every part of theater writes and reads: canonical JSON
(what is hashed) and tagged bytes (a ``list<u8>`` inside it, ``"base64:<standard,
padded base64>"``). One function each; nothing else encodes them.

Pure: imports neither wasmtime nor SQLite (the ``pure-core`` import contract).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

__all__ = ["BYTES_TAG", "canonical_json", "decode_tagged_bytes", "encode_tagged_bytes"]

BYTES_TAG = "base64:"

_SORT = orjson.OPT_SORT_KEYS
#: strict: only JSON's own types (no dataclass, datetime or subclass of a JSON type
#: other than an enum), so a value that is not plain JSON fails instead of changing form
_STRICT = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
           | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS)


def canonical_json(value: Any, *, strict: bool = False) -> bytes:
    """Serialize ``value`` the one canonical way: compact JSON, sorted keys, UTF-8.

    With ``strict``, a value outside JSON's own types raises ``orjson.JSONEncodeError``
    (a TypeError) instead of being converted."""
    return orjson.dumps(value, option=_STRICT if strict else _SORT)


def encode_tagged_bytes(data: bytes) -> str:
    """``"base64:"`` + the standard, padded base64 of ``data``."""
    return BYTES_TAG + base64.b64encode(data).decode("ascii")


def decode_tagged_bytes(value: Any) -> bytes | None:
    """The bytes of a ``"base64:..."`` string, or None when ``value`` is not one (not a
    str, no tag, or not valid standard base64). Canonical form is not required: compare
    :func:`encode_tagged_bytes` of the result where it is."""
    if not isinstance(value, str) or not value.startswith(BYTES_TAG):
        return None
    try:
        return base64.b64decode(value[len(BYTES_TAG):], validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        return None
