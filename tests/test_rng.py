"""ChaCha20Rng is rand_chacha's ChaCha20Rng, byte for byte (UPSTREAM.md)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from theater import ChaCha20Rng
from theater.rng import seed_key


def test_known_values_from_the_rust_crates():
    assert seed_key(0).hex() == "ecf273f981b5cd4587f0467306ad6cadd0d0a3e33317e767f29bea72d78a7dfe"
    assert seed_key(42).hex() == "a48fa17b58323d0aeab8a1cc690114b82b8cc87518b4f7548d446ea1e4df20f2"
    assert ChaCha20Rng.seed_from_u64(42).next_u64() == 9482535800248027256


def test_u64_takes_two_words_low_first():
    a, b = ChaCha20Rng.seed_from_u64(7), ChaCha20Rng.seed_from_u64(7)
    lo, hi = a.next_u32(), a.next_u32()
    assert b.next_u64() == lo | (hi << 32)


def test_fill_bytes_drops_the_rest_of_the_last_word():
    a, b = ChaCha20Rng.seed_from_u64(9), ChaCha20Rng.seed_from_u64(9)
    assert a.fill_bytes(5) == b.fill_bytes(8)[:5]
    # 5 bytes used two words: the next draws line up again
    assert a.next_u64() == b.next_u64()
    assert a.fill_bytes(0) == b"" and a.words_used == 4


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**64 - 1), st.lists(st.one_of(st.just(-1), st.integers(0, 300)), max_size=30))
def test_any_draw_sequence_reads_the_keystream_in_order(seed, draws):
    """Every sequence of draws reads whole little-endian words of one keystream."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    rng = ChaCha20Rng.seed_from_u64(seed)
    words = sum(2 if d < 0 else (d + 3) // 4 for d in draws)
    stream = Cipher(algorithms.ChaCha20(seed_key(seed), bytes(16)), mode=None).encryptor().update(bytes(words * 4))
    pos = 0
    for d in draws:
        if d < 0:
            assert rng.next_u64() == int.from_bytes(stream[pos:pos + 8], "little")
            pos += 8
        else:
            assert rng.fill_bytes(d) == stream[pos:pos + d]
            pos += (d + 3) // 4 * 4
    assert rng.words_used * 4 == pos
