"""The random handler: wasi:random/{random,insecure,insecure-seed} from one seeded
ChaCha20 stream, byte for byte what the Rust runtime gives (UPSTREAM.md).

Settings: ``seed`` (u64; drawn from the OS and recorded in the header when absent),
``max_bytes`` (default 1 MiB, at most 64 MiB: a larger request is refused, recorded,
and traps; a larger setting is refused when the manifest is loaded),
``max_int`` (default i64::MAX; the bound upstream applies to its range functions:
WASI's u64 functions have no range, so it is recorded but does not change them),
``allow_crypto_secure`` (default false; recorded: upstream serves
``wasi:random/random`` from the seeded stream either way, and so does theater).
"""

from __future__ import annotations

import secrets
from typing import Any

from ..errors import HostRefusal
from ..rng import ChaCha20Rng
from . import Handler, LiveFn

DEFAULT_MAX_BYTES = 1 << 20
MAX_MAX_BYTES = 64 << 20  # the cap on max_bytes: a request must never be a MemoryError
DEFAULT_MAX_INT = (1 << 63) - 1


class RandomHandler(Handler):
    type = "random"
    interfaces = {
        "wasi:random/random": ("get-random-bytes", "get-random-u64"),
        "wasi:random/insecure": ("get-insecure-random-bytes", "get-insecure-random-u64"),
        "wasi:random/insecure-seed": ("insecure-seed",),
    }
    settings_schema = {"seed": int, "max_bytes": int, "max_int": int, "allow_crypto_secure": bool}

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        s = config.settings
        seed = s.get("seed")
        if seed is None:
            seed = secrets.randbits(64)
        if not 0 <= seed < 1 << 64:
            from ..errors import ManifestError

            raise ManifestError(f"{manifest.path}: handler[{config.index}] (random): `seed` must be a u64")
        self.seed: int = seed
        self.max_bytes: int = s.get("max_bytes", DEFAULT_MAX_BYTES)
        if not 0 <= self.max_bytes <= MAX_MAX_BYTES:
            from ..errors import ManifestError

            raise ManifestError(f"{manifest.path}: handler[{config.index}] (random): `max_bytes` must be "
                                f"between 0 and {MAX_MAX_BYTES} (64 MiB), got {self.max_bytes}")
        self.max_int: int = s.get("max_int", DEFAULT_MAX_INT)
        self.allow_crypto_secure: bool = s.get("allow_crypto_secure", False)
        self.rng = ChaCha20Rng.seed_from_u64(seed)

    def header_settings(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "seed": self.seed,
            "max_bytes": self.max_bytes,
            "max_int": self.max_int,
            "allow_crypto_secure": self.allow_crypto_secure,
        }

    def resume(self, interface: str, function: str, payload: dict[str, Any]) -> None:
        """Draw what the recorded call drew: ceil(len / 4) words for bytes, 2 for a u64,
        4 for insecure-seed; nothing for a refused (trapped) call."""
        if "trap" in payload:
            return
        if function.endswith("-bytes"):
            n = (payload.get("args") or {}).get("len")
            words = (n + 3) // 4 if type(n) is int and n > 0 else 0
        elif function.endswith("-u64"):
            words = 2
        elif function == "insecure-seed":
            words = 4
        else:
            return
        self.rng.skip(words)

    def _bytes(self, store: Any, n: int) -> bytes:
        if n > self.max_bytes:
            raise HostRefusal(f"requested {n} random bytes, more than max_bytes = {self.max_bytes}")
        return self.rng.fill_bytes(n)

    def _u64(self, store: Any) -> int:
        return self.rng.next_u64()

    def _seed(self, store: Any) -> tuple[int, int]:
        return (self.rng.next_u64(), self.rng.next_u64())

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {
            "wasi:random/random": {"get-random-bytes": self._bytes, "get-random-u64": self._u64},
            "wasi:random/insecure": {
                "get-insecure-random-bytes": self._bytes,
                "get-insecure-random-u64": self._u64,
            },
            "wasi:random/insecure-seed": {"insecure-seed": self._seed},
        }
