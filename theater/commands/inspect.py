"""``theater chains``, ``theater events``, ``theater show``: read a database."""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Any

import click
import orjson

from ..chain import Event
from ..cli import db_option, emit_json, json_option, open_store
from ..errors import UsageError
from ..text import inert, inert_line

SEQ_MAX = 2**63 - 1  # SQLite's INTEGER: a larger seq cannot exist, and cannot be asked for


def replay_text(r: Any) -> str:
    """A stored replay outcome in a few words: ``verified``, ``diverged at 5``, ``stopped at 3``."""
    if r is None:
        return "-"
    return str(r.outcome) + ("" if r.seq is None or r.outcome == "verified" else f" at {r.seq}")


def chain_status(info: Any, replays: tuple[dict[str, Any], dict[str, Any]]) -> str:
    """A replay chain's stored outcome (verified, diverged, ...), else the chain's status."""
    own = replays[0].get(info.id)
    return str(own.outcome if own is not None else info.display_status)


def chain_json(info: Any, replays: tuple[dict[str, Any], dict[str, Any]] = ({}, {})) -> dict[str, Any]:
    own, latest = replays[0].get(info.id), replays[1].get(info.id)
    return {
        "id": info.id,
        "actor": info.actor,
        "format": info.format,
        "events": info.length,
        "head": None if info.head is None else info.head.hex(),
        "status": chain_status(info, replays),
        "chain_status": info.display_status,
        "replay_of": info.replay_of,
        "replay": None if own is None else own.to_json(),
        "last_replay": None if latest is None else latest.to_json(),
        "component_sha256": info.component_sha256,
        "created": info.created,
    }


def event_json(ev: Event, *, raw: bool = False) -> dict[str, Any]:
    """One event as ``events --json``/``--jsonl`` and ``--follow`` give it. Data that is
    not JSON (a tampered row) is ``"data": null`` with ``not_json`` holding it decoded as
    text or hex (theater/decode.py), never a ``{"hex": ...}`` that reads like a payload;
    ``raw`` (``show --raw``) keeps the output from before issue 17."""
    payload = ev.payload()
    obj: dict[str, Any] = {
        "seq": ev.seq,
        "type": ev.type,
        "hash": ev.hash.hex(),
        "parent": ev.parent.hex(),
        "data": payload,
        "size": len(ev.data),
        "written_at": ev.written_at,
    }
    if payload is None and ev.data != b"null":
        if raw:
            obj["data"] = {"hex": ev.data.hex()}
        else:
            from ..decode import decode_bytes

            enc, value = decode_bytes(ev.data)
            obj["not_json"] = {"encoding": enc, "value": value}
    return obj


@click.command()
@db_option
@json_option
def chains(db: str | None, as_json: bool) -> None:
    """List the chains in the database."""
    from ..store.runs import run_of

    with open_store(db) as store:
        infos = store.chains()
        replays = store.replay_outcomes()
        if as_json:
            member = run_of(store)  # each chain's run and parent chain (issue 19)
            emit_json([{**chain_json(i, replays), "run": getattr(member.get(i.id), "run", None),
                        "parent": getattr(member.get(i.id), "parent", None)} for i in infos])
            return
        if not infos:
            click.echo(f"no chains in {store.path}", err=True)
            return
        actors = [inert_line(i.actor) for i in infos]
        aw = actor_width(actors)
        click.echo(f"{'ID':<16}  {'ACTOR':<{aw}}  {'FORMAT':<6}  {'EVENTS':>8}  {'HEAD':<16}  {'STATUS':<10}  "
                   f"{'CREATED':<19}  LAST REPLAY")
        for i, actor in zip(infos, actors, strict=True):
            head = i.head.hex()[:16] if i.head else "-"
            status = inert_line(chain_status(i, replays)) + (
                f" (replay of {inert_line(i.replay_of[:8])})" if i.replay_of else "")
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i.created))
            last = replay_text(replays[1].get(i.id)) if not i.replay_of else ""
            click.echo(f"{inert_line(i.id):<16}  {cut(actor, aw):<{aw}}  {inert_line(i.format):<6}  "
                       f"{i.length:>8}  {head:<16}  {status:<10}  {created}" + (f"  {last}" if last else ""))


#: the columns of a `theater chains` line other than the actor's (and their gaps;
#: LAST REPLAY counted at its usual width, "diverged at 12")
_OTHER_COLUMNS = 16 + 2 + 2 + 6 + 2 + 8 + 2 + 16 + 2 + 10 + 2 + 19 + 2 + 14
_MIN_ACTOR = 12


def actor_width(actors: list[str]) -> int:
    """The ACTOR column: as wide as the longest name, cut only to fit a terminal.

    On a terminal (or with $COLUMNS set) the line is kept within its width, the
    column never narrower than 12; into a pipe or a file names are never cut."""
    width = max([len("ACTOR"), *map(len, actors)])
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        columns = shutil.get_terminal_size().columns
        width = min(width, max(_MIN_ACTOR, columns - _OTHER_COLUMNS))
    return width


def cut(text: str, width: int) -> str:
    """``text`` within ``width`` characters, ending in an ellipsis only when it was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


EVENTS_HEADER = f"{'SEQ':>8}  {'HASH':<16}  {'SIZE':>8}  TYPE"


@click.command()
@click.argument("chain")
@db_option
@json_option
@click.option("--jsonl", "as_jsonl", is_flag=True,
              help="One JSON object per line, streamed in constant memory (for jq, or a 1M-event chain).")
@click.option("--from", "start", type=click.IntRange(-SEQ_MAX, SEQ_MAX), default=0, show_default=True,
              help="First seq to show; negative counts from the end: --from -5 shows the last 5 events.")
@click.option("--limit", type=click.IntRange(0, SEQ_MAX), default=None, help="Show at most this many events.")
@click.option("--grep", "grep", metavar="PATTERN", default=None,
              help="Only events whose type, arguments, results, log text or decoded bytes contain PATTERN "
                   "(re:REGEX for a regular expression; a lowercase pattern ignores case).")
@click.option("--type", "type_pattern", metavar="PATTERN", default=None,
              help="Only events whose type contains PATTERN (or matches re:REGEX), e.g. --type get-random.")
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing events as they are committed, until the chain ends (like tail -f).")
def events(chain: str, db: str | None, as_json: bool, as_jsonl: bool, start: int, limit: int | None,
           grep: str | None, type_pattern: str | None, follow: bool) -> None:
    """List the events of CHAIN (an id, a unique id prefix, or 'last').

    Text output has a header row; --json prints one JSON array, --jsonl one object per
    line. --grep and --type filter by content in SQL (docs/tui.md, "Search").
    """
    from ..errors import UsageError
    from ..store.search import matching_rows, parse_pattern

    if as_json and as_jsonl:
        raise UsageError("--json and --jsonl are two forms of the same list; give one")
    patterns = (None if grep is None else parse_pattern(grep),
                None if type_pattern is None else parse_pattern(type_pattern))
    with open_store(db) as store:
        info = store.resolve(chain)
        if start < 0:  # from the end: --from -5 is the last five events
            last = store.max_seq(info.id)
            start = max(0, (-1 if last is None else last) + 1 + start)
        stop = None if limit is None or start + limit > SEQ_MAX else start + limit
        out = sys.stdout.buffer
        if follow:
            if patterns != (None, None):
                raise UsageError("--grep and --type do not combine with --follow; pipe --follow --jsonl to grep")
            from .follow import follow_events

            follow_events(store, info.id, start=start, limit=limit, as_json=as_json or as_jsonl, out=out)
            return
        if patterns == (None, None):
            stream = store.events(info.id, start, stop)
        else:
            seqs = matching_rows(store, info.id, grep=patterns[0], type_pattern=patterns[1], start=start)
            stream = _events_at(store, info.id, seqs, limit)
        if as_json:
            # streamed, so a million-event chain does not sit in memory
            out.write(b"[")
            for n, ev in enumerate(stream):
                out.write((b",\n" if n else b"\n") + orjson.dumps(event_json(ev)))
            out.write(b"\n]\n")
            out.flush()
            return
        if as_jsonl:
            for ev in stream:
                out.write(orjson.dumps(event_json(ev)) + b"\n")
            out.flush()
            return
        # the header goes out with the first row (or alone, for no rows), so a chain whose
        # first row cannot be read prints nothing but the error
        header = EVENTS_HEADER.encode() + b"\n"
        for ev in stream:
            out.write(header + f"{ev.seq:>8}  {ev.hash.hex()[:16]}  {len(ev.data):>7}B  "
                      f"{inert_line(ev.type)}\n".encode())
            header = b""
        out.write(header)
        out.flush()


def _events_at(store: Any, chain_id: str, seqs: Any, limit: int | None) -> Any:
    """The events at ``seqs`` (ascending), at most ``limit`` of them."""
    for n, seq in enumerate(seqs):
        if limit is not None and n >= limit:
            return
        ev = store.event(chain_id, seq)
        if ev is not None:
            yield ev


def parse_seq(text: str, *, last: int | None, what: str = "SEQ") -> int:
    """A seq as typed (issue 17 item 8): ``N``, ``-N`` counted from the end (``-1`` is the
    last event), or ``last``; ``last`` is the chain's highest seq (None: no events)."""
    word = text.strip().lower()
    try:
        n = None if word == "last" else int(word)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a seq: give N, -N (from the end, -1 is the last event) "
                         "or last") from None
    if n is not None and n >= 0:
        if n > SEQ_MAX:
            raise UsageError(f"{what} {n} is larger than any seq ({SEQ_MAX})")
        return n
    if last is None:
        raise UsageError(f"{what} {text}: the chain has no events")
    seq = last if n is None else last + 1 + n
    if seq < 0:
        raise UsageError(f"{what} {text}: the chain has only {last + 1} events (seqs 0 to {last})")
    return seq


def event_view_json(ev: Event, *, legacy: bool = False) -> dict[str, Any]:
    """``show --json``: the event with its byte values decoded (theater/decode.py)."""
    from ..decode import event_to_json

    return event_to_json(ev, legacy=legacy)


def write_event_text(ev: Event, *, view: Any, legacy: bool, width: int) -> None:
    """The data of ``show``: the payload as JSON (arrays of numbers on one line), then
    each byte value in it decoded (JSON, text or hex: see theater/decode.py)."""
    from ..decode import View, decoded, is_json, parse_json, pretty_json, render

    value = parse_json(ev.data)
    if not is_json(value):
        r = render(ev.data, View.JSON if view is View.AUTO else view, width=width)
        click.echo(f"data        {len(ev.data)} bytes (not JSON), shown as {r.view}")
        click.echo(r.text)
        return
    click.echo(f"data        {len(ev.data)} bytes, JSON")
    click.echo(inert(pretty_json(value)))
    for d in decoded(value, legacy=legacy):
        r = render(d.data, view, width=width - 2)
        click.echo(f"{inert_line(d.path)}  {len(d.data)} bytes, {r.label}")
        click.echo("\n".join("  " + line for line in r.text.split("\n")))


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("chain")
@click.argument("seq")
@db_option
@json_option
@click.option("--view", type=click.Choice(["auto", "text", "json", "hex"]), default="auto", show_default=True,
              help="How byte values are shown: auto is JSON when they parse, text when printable "
                   "UTF-8, hex otherwise.")
@click.option("--raw", is_flag=True, help="The data as stored, byte values undecoded (the output before "
                                          "issue 17).")
def show(chain: str, seq: str, db: str | None, as_json: bool, view: str, raw: bool) -> None:
    """Show event SEQ of CHAIN in full, byte values decoded.

    SEQ is a seq, -N counted from the end (-1 is the last event), or last.
    """
    from ..decode import View
    from ..legacy import FORMAT as LEGACY

    if seq.startswith("--"):  # an option click did not know, taken for SEQ
        raise UsageError(f"no such option: {seq}")
    with open_store(db) as store:
        info = store.resolve(chain)
        at = parse_seq(seq, last=store.max_seq(info.id))
        ev = store.event(info.id, at)
        if ev is None:
            raise UsageError(f"chain {info.id} has no event {at} (it has {store.count(info.id)})")
    legacy = info.format == LEGACY
    if as_json:
        emit_json(event_json(ev, raw=True) if raw else event_view_json(ev, legacy=legacy))
        return
    click.echo(f"chain       {inert_line(info.id)}")
    click.echo(f"seq         {ev.seq}")
    click.echo(f"type        {inert_line(ev.type)}")
    click.echo(f"hash        {ev.hash.hex()}")
    click.echo(f"parent      {ev.parent.hex()}")
    when = "-" if ev.written_at is None else time.strftime(
        "%Y-%m-%d %H:%M:%S", time.localtime(ev.written_at)
    )
    click.echo(f"written at  {when}  (unauthenticated: not part of the hash)")
    if raw:
        click.echo(f"data        {len(ev.data)} bytes")
        # orjson escapes C0 controls in strings; inert() also catches DEL and C1 ones
        click.echo(inert(orjson.dumps(event_json(ev, raw=True)["data"], option=orjson.OPT_INDENT_2).decode()))
        return
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() or os.environ.get("COLUMNS") else 80
    write_event_text(ev, view=View(view), legacy=legacy, width=width)


COMMANDS = [chains, events, show]
