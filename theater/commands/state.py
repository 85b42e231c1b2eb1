"""``theater state``: the actor's state at an event (issue 13 item 1)."""

from __future__ import annotations

import sys

import click
import orjson

from ..cli import db_option, emit_json, json_option, open_store
from ..text import inert, inert_line
from .inspect import SEQ_MAX


@click.command()
@click.argument("chain")
@click.argument("seq", type=click.IntRange(0, SEQ_MAX), required=False)
@db_option
@click.option("--raw", is_flag=True, help="Write the state's bytes to stdout, nothing else.")
@json_option
def state(chain: str, seq: int | None, db: str | None, raw: bool, as_json: bool) -> None:
    """The actor's state after the export call at or before SEQ of CHAIN (default: the last).

    Shown as pretty JSON when the bytes are JSON, as text when they are UTF-8, in hex
    otherwise. No code runs: the state is read from the recorded export event.
    """
    from ..state import StateEncoding, state_at

    with open_store(db) as store:
        at = state_at(store, chain, seq)
    if raw:
        sys.stdout.buffer.write(at.state or b"")
        sys.stdout.flush()
        return
    if as_json:
        emit_json(at.to_json())
        return
    enc, value = at.encoding, at.value
    size = "no state" if at.state is None else f"{len(at.state)} bytes, {enc}"
    click.echo(f"state after seq {at.seq} ({inert_line(at.type)}): {size}")
    if enc == StateEncoding.JSON:
        click.echo(inert(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()))
    elif enc in (StateEncoding.TEXT, StateEncoding.BINARY):
        click.echo(inert(value))


COMMANDS = [state]
