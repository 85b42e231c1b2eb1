import re
from pathlib import Path

import orjson

from theater.chain import ChainBuilder, event_hash, genesis_hash, split_type

DOC = Path(__file__).resolve().parent.parent / "docs" / "chain-format.md"


def doc_vectors() -> dict:
    text = DOC.read_text()
    section = text.split("## Test vectors", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block, "docs/chain-format.md lost its JSON test vectors"
    return orjson.loads(block.group(1))


def test_doc_vectors_match_implementation():
    v = doc_vectors()
    header = v["header"].encode()
    assert genesis_hash(header).hex() == v["genesis"]
    head = bytes.fromhex(v["genesis"])
    assert len(v["events"]) == 3
    for e in v["events"]:
        assert bytes.fromhex(e["parent"]) == head
        h = event_hash(e["seq"], head, e["type"], e["data"].encode())
        assert h.hex() == e["hash"]
        head = h


def test_doc_preimage_hex_is_hash_input_of_event_0():
    import hashlib

    v = doc_vectors()
    text = DOC.read_text().split("The hash input of event 0", 1)[1]
    hexdump = "".join(re.search(r"```\n(.*?)```", text, re.S).group(1).split())
    pre = bytes.fromhex(hexdump)
    assert hashlib.sha256(pre).hexdigest() == v["events"][0]["hash"]


def test_every_field_is_bound_into_the_hash():
    parent = bytes(32)
    base = event_hash(3, parent, "t", b"d")
    assert event_hash(4, parent, "t", b"d") != base
    assert event_hash(3, b"\x01" + bytes(31), "t", b"d") != base
    assert event_hash(3, parent, "u", b"d") != base
    assert event_hash(3, parent, "t", b"e") != base
    # length prefixes: moving a byte between type and data changes the hash
    assert event_hash(3, parent, "td", b"") != event_hash(3, parent, "t", b"d")


def test_builder_links_events_and_header():
    b1, b2 = ChainBuilder(b'{"a":1}'), ChainBuilder(b'{"a":2}')
    s, p, h = b1.append("x", b"1")
    assert (s, p) == (0, genesis_hash(b'{"a":1}'))
    assert b2.append("x", b"1")[2] != h  # the header is bound into every hash
    s, p, h2 = b1.append("x", b"1")
    assert (s, p) == (1, h) and h2 != h


def test_split_type():
    assert split_type("host:wasi:random/random@0.2.3#get-random-u64") == (
        "host", "wasi:random/random@0.2.3", "get-random-u64")
    assert split_type("export:theater:simple/actor#init") == ("export", "theater:simple/actor", "init")
    assert split_type("end") == ("end", "", "")
