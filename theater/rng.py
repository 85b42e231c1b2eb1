"""ChaCha20Rng: byte-for-byte the generator of Rust's rand_chacha 0.3 (UPSTREAM.md).

``seed_from_u64`` expands a u64 into a 32-byte key with PCG32 (rand_core 0.6); the
stream is ChaCha20 with a 64-bit block counter from 0 and stream id 0, i.e. the
keystream of ``cryptography``'s ChaCha20 with a 16-byte all-zero nonce. Draws consume
little-endian u32 words: a u64 takes two (low first); ``fill_bytes(n)`` takes
ceil(n/4) words and drops the unused bytes of the last one.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

_MASK64 = (1 << 64) - 1
_PCG_MUL = 6364136223846793005
_PCG_INC = 11634580027462260723
_BLOCK = 64  # bytes per ChaCha20 block
_CHUNK = _BLOCK * 64  # keystream generated at a time
_ZEROS = bytes(_CHUNK)
_U64 = struct.Struct("<Q")


def seed_key(state: int) -> bytes:
    """The 32-byte ChaCha20 key that rand_core's ``seed_from_u64(state)`` produces."""
    if not 0 <= state <= _MASK64:
        raise ValueError(f"seed must be a u64, got {state}")
    out = bytearray()
    for _ in range(8):
        state = (state * _PCG_MUL + _PCG_INC) & _MASK64
        xorshifted = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
        rot = state >> 59
        word = ((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & 0xFFFFFFFF
        out += word.to_bytes(4, "little")
    return bytes(out)


class ChaCha20Rng:
    """A seeded ChaCha20 generator compatible with ``rand_chacha::ChaCha20Rng``."""

    __slots__ = ("key", "_enc", "_buf", "_pos", "words_used")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("ChaCha20 key must be 32 bytes")
        self.key = key
        self._enc = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
        self._buf = b""
        self._pos = 0  # byte offset into _buf, always a multiple of 4
        self.words_used = 0

    @classmethod
    def seed_from_u64(cls, seed: int) -> ChaCha20Rng:
        return cls(seed_key(seed))

    def _take(self, nwords: int) -> bytes:
        need = nwords * 4
        if self._pos + need > len(self._buf):
            rest = self._buf[self._pos :]
            more = max(_CHUNK, need - len(rest))
            more = -(-more // _BLOCK) * _BLOCK
            self._buf = rest + self._enc.update(_ZEROS if more == _CHUNK else bytes(more))
            self._pos = 0
        out = self._buf[self._pos : self._pos + need]
        self._pos += need
        self.words_used += nwords
        return out

    def skip(self, nwords: int) -> None:
        """Draw and drop ``nwords`` words: the stream position after draws made elsewhere."""
        while nwords > 0:
            step = min(nwords, 1 << 20)
            self._take(step)
            nwords -= step

    def next_u32(self) -> int:
        return int.from_bytes(self._take(1), "little")

    def next_u64(self) -> int:
        """Two words, low word first: the same as reading 8 keystream bytes little-endian."""
        return int(_U64.unpack(self._take(2))[0])

    def fill_bytes(self, n: int) -> bytes:
        """``n`` bytes from ceil(n/4) words; unused bytes of the last word are dropped."""
        if n < 0:
            raise ValueError("n must be >= 0")
        if n == 0:
            return b""
        return self._take((n + 3) // 4)[:n]
