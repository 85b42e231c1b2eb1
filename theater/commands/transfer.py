"""``theater import`` and ``theater export``: chains in and out of a database as files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli import Exit, db_option, emit_json, err, json_option, open_store
from ..errors import ExitCode, UsageError


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "kind", type=click.Choice(["auto", "legacy-json", "jsonl"]), default="auto",
              show_default=True, help="legacy-json: a chain saved by the Rust Theater runtime; "
                                      "jsonl: a `theater export`.")
@click.option("--actor", default=None, help="Actor name for a legacy chain (default: the file name).")
@db_option
@json_option
def import_(file: str, kind: str, actor: str | None, db: str | None, as_json: bool) -> None:
    """Verify the chain in FILE (- for stdin) and store it under a new id (printed on stdout).

    Nothing is stored unless the whole chain verifies (exit 1 with the first failure).
    A chain already in the database (the same header and head hash) is not stored
    twice: its id is printed and stderr says so (exit 0).
    """
    from verify.importer import import_file

    if file != "-" and not Path(file).exists():
        raise UsageError(f"no file {file}")
    with open_store(db, create=True) as store:
        res = import_file(store, file, kind=kind, actor=actor)
        # the same chain imported before: the same header and format and the same head
        # hash (which covers every event); keep the first copy, not a second one
        already = None
        if res.chain is not None:
            new = store.chain(res.chain)
            head = store.last_event(new.id)
            for c in store.chains():
                if c.id != new.id and c.header == new.header and c.format == new.format:
                    other = store.last_event(c.id)
                    if (other is None) == (head is None) and (head is None or (other is not None and
                                                                              other.hash == head.hash)):
                        already = c.id
                        break
            if already is not None:
                store.remove_chains([new.id])
    if already is not None:
        if as_json:
            emit_json({"ok": True, "chain": already, "already": True, "kind": res.kind, "format": res.format,
                       "verify": res.result.to_json()})
        else:
            click.echo(already)
            err(f"{file} is already in the database as {already} (the same header and head hash); "
                "nothing imported")
        return
    if as_json:
        emit_json({"ok": res.ok, "chain": res.chain, "already": False, "kind": res.kind, "format": res.format,
                   "verify": res.result.to_json()})
    elif res.ok:
        click.echo(res.chain)
        err(f"imported {file} ({res.kind}, {res.result.events} events, format {res.format}) as {res.chain}")
    else:
        err(res.result.summary().replace(f" {res.result.chain}:", f" {file}:", 1))
        p = res.result.problem
        if p is not None and p.expected is not None:
            err(f"  expected: {p.expected}")
            err(f"  computed: {p.computed}")
        err("theater: nothing imported")
    if not res.ok:
        raise Exit(ExitCode.FAILED)


@click.command()
@click.argument("chain")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True,
              help="jsonl: a first line describing the chain and its header, then one event a line.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout.")
@click.option("--from", "first", default=None, metavar="SEQ",
              help="Only the events from this seq on (an excerpt; -N counts from the end).")
@click.option("--to", "to", default=None, metavar="SEQ", help="Only the events up to this seq, included.")
@db_option
def export(chain: str, fmt: str, out: str | None, first: str | None, to: str | None, db: str | None) -> None:
    """Write CHAIN with its header as JSON lines (`theater import` reads it back).

    With --from/--to, only those events (an excerpt, to read elsewhere: `theater import`
    takes whole chains only). SEQ is a seq, -N from the end (-1 is the last event) or last.
    """
    from ..bundle import write_jsonl
    from .inspect import parse_seq

    with open_store(db) as store:
        info = store.resolve(chain)
        last = store.max_seq(info.id)
        start = 0 if first is None else parse_seq(first, last=last, what="--from")
        stop = None if to is None else parse_seq(to, last=last, what="--to") + 1
        if stop is not None and stop <= start:
            raise UsageError(f"--to {to} is before --from {first}: nothing to export")
        if out is None:
            n = write_jsonl(store, info, sys.stdout.buffer, start=start, stop=stop)
            sys.stdout.buffer.flush()
        else:
            try:
                with open(out, "wb") as f:
                    n = write_jsonl(store, info, f, start=start, stop=stop)
            except OSError as e:
                raise UsageError(f"cannot write {out}: {e.strerror}") from e
            err(f"exported {info.id} ({n} events) to {out}")


COMMANDS = [import_, export]
