"""``theater chains``, ``theater events``, ``theater show``: read a database."""

from __future__ import annotations

import sys
import time
from typing import Any

import click
import orjson

from ..chain import Event
from ..cli import db_option, emit_json, json_option, open_store

SEQ_MAX = 2**63 - 1  # SQLite's INTEGER: a larger seq cannot exist, and cannot be asked for


def chain_json(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "actor": info.actor,
        "format": info.format,
        "events": info.length,
        "head": None if info.head is None else info.head.hex(),
        "status": info.display_status,
        "replay_of": info.replay_of,
        "component_sha256": info.component_sha256,
        "created": info.created,
    }


def event_json(ev: Event) -> dict[str, Any]:
    payload = ev.payload()
    return {
        "seq": ev.seq,
        "type": ev.type,
        "hash": ev.hash.hex(),
        "parent": ev.parent.hex(),
        "data": payload if payload is not None or ev.data == b"null" else {"hex": ev.data.hex()},
        "size": len(ev.data),
        "written_at": ev.written_at,
    }


@click.command()
@db_option
@json_option
def chains(db: str | None, as_json: bool) -> None:
    """List the chains in the database."""
    with open_store(db) as store:
        infos = store.chains()
        if as_json:
            emit_json([chain_json(i) for i in infos])
            return
        if not infos:
            click.echo(f"no chains in {store.path}", err=True)
            return
        click.echo(f"{'ID':<16}  {'ACTOR':<20} {'EVENTS':>8}  {'HEAD':<16}  {'STATUS':<10}  CREATED")
        for i in infos:
            head = i.head.hex()[:16] if i.head else "-"
            status = i.display_status + (f" (replay of {i.replay_of[:8]})" if i.replay_of else "")
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i.created))
            click.echo(f"{i.id:<16}  {i.actor[:20]:<20} {i.length:>8}  {head:<16}  {status:<10}  {created}")


@click.command()
@click.argument("chain")
@db_option
@json_option
@click.option("--from", "start", type=click.IntRange(0, SEQ_MAX), default=0, show_default=True,
              help="First seq to show.")
@click.option("--limit", type=click.IntRange(0, SEQ_MAX), default=None, help="Show at most this many events.")
def events(chain: str, db: str | None, as_json: bool, start: int, limit: int | None) -> None:
    """List the events of CHAIN (an id, a unique id prefix, or 'last')."""
    with open_store(db) as store:
        info = store.resolve(chain)
        stop = None if limit is None or start + limit > SEQ_MAX else start + limit
        out = sys.stdout.buffer
        if as_json:
            # streamed, so a million-event chain does not sit in memory
            out.write(b"[")
            for n, ev in enumerate(store.events(info.id, start, stop)):
                out.write((b",\n" if n else b"\n") + orjson.dumps(event_json(ev)))
            out.write(b"\n]\n")
            out.flush()
            return
        for ev in store.events(info.id, start, stop):
            out.write(f"{ev.seq:>8}  {ev.hash.hex()[:16]}  {len(ev.data):>7}B  {ev.type}\n".encode())
        out.flush()


@click.command()
@click.argument("chain")
@click.argument("seq", type=click.IntRange(0, SEQ_MAX))
@db_option
@json_option
def show(chain: str, seq: int, db: str | None, as_json: bool) -> None:
    """Show event SEQ of CHAIN in full."""
    from ..errors import UsageError

    with open_store(db) as store:
        info = store.resolve(chain)
        ev = store.event(info.id, seq)
        if ev is None:
            raise UsageError(f"chain {info.id} has no event {seq} (it has {store.count(info.id)})")
        obj = event_json(ev)
        if as_json:
            emit_json(obj)
            return
        click.echo(f"chain       {info.id}")
        click.echo(f"seq         {ev.seq}")
        click.echo(f"type        {ev.type}")
        click.echo(f"hash        {obj['hash']}")
        click.echo(f"parent      {obj['parent']}")
        when = "-" if ev.written_at is None else time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(ev.written_at)
        )
        click.echo(f"written at  {when}  (unauthenticated: not part of the hash)")
        click.echo(f"data        {len(ev.data)} bytes")
        click.echo(orjson.dumps(obj["data"], option=orjson.OPT_INDENT_2).decode())


COMMANDS = [chains, events, show]
