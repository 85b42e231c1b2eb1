"""The browser's data layer: pages of rows by seq in an LRU cache, search, formatting."""

import base64

from conftest import write_chain
from tamper import delete_events, insert_rows, loose_events

from theater.text import human_size
from tui.data import LRU, ChainSource, hexdump, short_hash, tagged_bytes, utc
from tui.event_list import fit_type


def test_lru_evicts_least_recently_used():
    c = LRU[int, str](2)
    c.put(1, "a"), c.put(2, "b")
    assert c.get(1) == "a"  # 1 is now the most recent
    c.put(3, "c")
    assert c.get(2) is None and c.get(1) == "a" and c.get(3) == "c" and len(c) == 2


def test_source_fetches_pages_on_demand(store):
    cid = write_chain(store, 999, batch=1000)
    src = ChainSource(store, cid, page_size=100, pages=2)
    assert src.rows == 1000 and src.fetches == 0
    ev = src.event(555)
    assert ev == store.event(cid, 555) and src.fetches == 1
    assert src.event(599).seq == 599 and src.fetches == 1  # same page
    src.event(0), src.event(999)
    assert src.fetches == 3
    src.event(555)  # evicted by the two pages since
    assert src.fetches == 4
    assert src.event(1000) is None and src.event(-1) is None


def test_source_shows_gaps_and_repeats_in_place(store):
    cid = write_chain(store, 10)
    delete_events(store, cid, 4)
    row = next(store.event_rows(cid, 6, 7))
    loose_events(store)  # a tamperer can drop the (chain, seq) key
    insert_rows(store, cid, [row])
    src = ChainSource(store, cid)
    assert src.rows == 11
    assert src.event(4) is None and src.event(5).seq == 5
    assert src.repeated(6) and not src.repeated(5)


def test_hexdump_and_tagged_bytes():
    assert hexdump(b"AB\x00") == "00000000  41 42 00" + " " * 39 + "  AB."
    assert hexdump(bytes(40), width=16, limit=16).splitlines()[-1] == "... 24 more bytes"
    blob = bytes(range(5))
    payload = {"args": {"len": 5}, "result": {"ok": ["base64:" + base64.b64encode(blob).decode(), "plain"]}}
    assert list(tagged_bytes(payload)) == [("result.ok[0]", blob)]
    assert list(tagged_bytes("base64:!!notbase64")) == []


def test_formatting():
    assert short_hash(bytes.fromhex("ab" * 32)) == "abababab" and short_hash(None) == "-"
    assert (human_size(812), human_size(12800), human_size(3 * 1024 * 1024)) == ("812 B", "12.5 KB", "3.0 MB")
    assert utc(0) == "1970-01-01 00:00:00 UTC" and utc(None) == "-"
    t = "host:wasi:random/random@0.2.9#get-random-bytes"
    assert fit_type(t, 60) == t.ljust(60)
    # issue 17 item 4: the version goes first, then the start; the function stays
    assert fit_type(t, 40) == "host:wasi:random/random#get-random-bytes"
    assert fit_type(t, 24) == "…random#get-random-bytes" and len(fit_type(t, 30)) == 30
    assert fit_type(t, 12) == "…andom-bytes"
    assert fit_type("end", 2) == "e…"
