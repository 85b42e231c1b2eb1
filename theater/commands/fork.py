"""``theater fork``: continue a recording from an event with new inputs or a new build."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import Exit, db_option, emit_json, err, interruptible, json_option, open_store
from ..errors import ExitCode, UsageError
from ..text import inert
from .inspect import SEQ_MAX
from .record import _InputOrderCommand, _ordered_inputs, _read_inputs


@click.command(cls=_InputOrderCommand)
@click.argument("chain")
@click.option("--at", "at", type=click.IntRange(0, SEQ_MAX), required=True, metavar="SEQ",
              help="Fork after the last complete export call at or before SEQ.")
@db_option
@click.option("--component", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run this component instead of the recorded one (its prefix is checked against the recording).")
@click.option("--send", "sends", multiple=True, metavar="MSG", help="Then call handle-send with MSG's UTF-8 bytes.")
@click.option("--request", "requests", multiple=True, metavar="MSG",
              help="Then call handle-request with MSG's UTF-8 bytes.")
@click.option("--inputs", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='JSON lines of inputs after the --send/--request ones: {"kind": "send", "text": "..."}.')
@click.option("--quiet", "-q", is_flag=True, help="Do not show the actor's log and stdout lines.")
@json_option
def fork(chain: str, at: int, db: str | None, component: Path | None, sends: tuple[str, ...],
         requests: tuple[str, ...], inputs: Path | None, quiet: bool, as_json: bool) -> None:
    """Fork CHAIN at SEQ: replay its prefix (checked like a replay), then go on live.

    The live handlers continue from where the recording was at the fork point (the
    random stream, the virtual clock, the request ids); the new inputs are recorded
    into a new chain whose header names fork_of (chain, seq, head). Exit 1 if the
    prefix diverges (e.g. another --component) or the actor fails.
    """
    from replay.fork import fork as do_fork
    from theater.recorder import Input

    items = [(k, v.encode()) for k, v in _ordered_inputs(sends, requests)]
    if inputs is not None:
        lines = _read_inputs(inputs)
        if any(to is not None for _, _, to in lines):
            raise UsageError(f"{inputs}: a fork continues one actor; its inputs take no \"to\"")
        items += [(k, p) for k, p, _ in lines]

    def sink(kind: str, text: str) -> None:
        if not quiet:
            click.echo(f"[{kind}] {inert(text)}", err=True)

    with open_store(db) as store:
        info = store.resolve(chain)
        with interruptible() as stop:
            result = do_fork(store, info, at=at, inputs=[Input(k, p) for k, p in items], component=component,
                             sink=sink, interrupt=stop)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(f"forked {result.source} at seq {result.seq} as {result.chain}: {result.events} events, "
                   f"head {result.head.hex()[:16]}, {result.outcome}")
        if result.divergence is not None:
            click.echo(result.divergence.report())
        elif result.error:
            err(f"theater: the actor {result.outcome}: {result.error}")
    if not result.ok:
        raise Exit(ExitCode.FAILED)


COMMANDS = [fork]
