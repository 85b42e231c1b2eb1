"""``theater record``: run an actor from its manifest and record its chain."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import click

from ..cli import Exit, db_option, emit_json, err, interruptible, json_option, open_store
from ..errors import ExitCode, UsageError
from ..outcomes import EndOutcome
from ..text import inert

INPUTS_META = "theater.record.inputs"


class _InputOrderCommand(click.Command):
    """``record``'s command class: keeps --send/--request in the order given.

    click groups a ``multiple`` option's values per option, so the interleaving is
    taken from click's own parser (the same parse, of a copy of the arguments: every
    occurrence, in order), never from ``sys.argv``, which is not what was parsed when
    theater runs in-process or a value looks like a flag (``--init-param --send``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:
            opts, _, order = self.make_parser(ctx).parse_args(args=list(args))
            queues = {name: list(opts.get(name) or ()) for name in ("sends", "requests", "calls")}
            ordered: list[tuple[str, Any]] = []
            kinds = {"sends": "send", "requests": "request", "calls": "call"}
            for param in order:
                name = getattr(param, "name", None)
                if name in queues and queues[name]:
                    ordered.append((kinds[name], queues[name].pop(0)))
            ctx.meta[INPUTS_META] = ordered
        return super().parse_args(ctx, args)


def _ordered_inputs(sends: tuple[str, ...], requests: tuple[str, ...],
                    calls: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, Any]]:
    """--send/--request/--call in the order given on the command line (see _InputOrderCommand)."""
    ordered = click.get_current_context().meta.get(INPUTS_META)
    if ordered is not None and [v for k, v in ordered if k == "send"] == list(sends) and [
        v for k, v in ordered if k == "request"
    ] == list(requests) and [tuple(v) for k, v in ordered if k == "call"] == [tuple(c) for c in calls]:
        return list(ordered)
    # only when record is invoked without its command class (not from the CLI)
    return [("send", s) for s in sends] + [("request", r) for r in requests] + [("call", c) for c in calls]


def _read_inputs(path: Path) -> list[tuple[str, bytes, str | None]]:
    """The ``--inputs`` lines: (kind, payload, the actor it goes to or None for the default)."""
    import orjson

    out: list[tuple[str, bytes, str | None]] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read --inputs {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
            kind = obj["kind"]
            if kind not in ("send", "request"):
                raise ValueError
            if "base64" in obj:
                payload = base64.b64decode(obj["base64"], validate=True)
            else:
                payload = str(obj["text"]).encode()
            to = obj.get("to")
            if to is not None and not isinstance(to, str):
                raise ValueError
        except Exception:
            raise UsageError(
                f"{path}:{n}: expected {{\"kind\": \"send\"|\"request\", \"text\": \"...\"}} "
                "(or \"base64\" instead of \"text\"; \"to\": \"NAME\" for an actor of a run)"
            ) from None
        out.append((kind, payload, to))
    return out


@click.command(cls=_InputOrderCommand)
@click.argument("manifest", type=click.Path(dir_okay=False))
@db_option
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=None,
              help="Random seed (overrides the manifest's; default: the manifest's, else from the OS).")
@click.option("--init-param", default=None, help="The string given to init (default: the actor's name).")
@click.option("--send", "sends", multiple=True, metavar="MSG", help="Call handle-send with MSG's UTF-8 bytes.")
@click.option("--request", "requests", multiple=True, metavar="MSG",
              help="Call handle-request with MSG's UTF-8 bytes.")
@click.option("--call", "calls", multiple=True, nargs=2, metavar="IFACE#FUNC ARGS-JSON",
              help="Call any exported function with JSON arguments (an array, or an object by name).")
@click.option("--inputs", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='JSON lines of inputs after the --send/--request ones: {"kind": "send", "text": "..."}.')
@click.option("--sign-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ed25519 private key (theater keygen): sign a checkpoint when the recording ends.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --sign-key, also sign a checkpoint every N events.")
@click.option("--stdin", "stdin_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="What the actor reads from wasi:cli/stdin (default: nothing; the reads are recorded).")
@click.option("--quiet", "-q", is_flag=True, help="Do not show the actor's log and stdout lines.")
@click.option("--to", "to", default=None, metavar="NAME",
              help="Give the inputs to this actor of the run (a name or an id) instead of the root.")
@json_option
def record(manifest: str, db: str | None, seed: int | None, init_param: str | None,
           sends: tuple[str, ...], requests: tuple[str, ...], calls: tuple[tuple[str, str], ...],
           inputs: Path | None, sign_key: Path | None,
           checkpoint_every: int | None, stdin_file: Path | None, quiet: bool, to: str | None,
           as_json: bool) -> None:
    """Run the actor of MANIFEST and record every host crossing into a chain.

    Calls init, then each --send/--request/--call in the order given, threading the actor's
    state from call to call. Prints the chain id, event count and head hash; the
    actor's log and stdout lines go to stderr. Exit 1 if the actor traps or fails.
    """
    from ..manifest import load_manifest
    from ..recorder import Input
    from ..recorder import record as do_record

    m = load_manifest(manifest)
    key = None
    if sign_key is not None:
        from ..checkpoint import load_private_key

        key = load_private_key(sign_key)
    elif checkpoint_every is not None:
        raise UsageError("--checkpoint-every needs --sign-key")
    stdin = None if stdin_file is None else read_stdin_file(stdin_file)
    from ..calls import parse_call

    # each input and the actor of a run it goes to (None: the root, or --to)
    items: list[tuple[Input, str | None]] = [
        (Input("call", b"", parse_call(*v)) if k == "call" else Input(k, v.encode()), None)
        for k, v in _ordered_inputs(sends, requests, calls)]
    if inputs is not None:
        items += [(Input(k, p), t) for k, p, t in _read_inputs(inputs)]

    def sink(kind: str, text: str) -> None:
        # the actor's text: control characters escaped, so it cannot drive the terminal
        if kind == "warning":  # theater's own, shown even with --quiet
            click.echo(f"theater: warning: {inert(text)}", err=True)
        elif not quiet:
            click.echo(f"[{kind}] {inert(text)}", err=True)

    from ..system import is_system

    if is_system(m) or to is not None or any(t is not None for _, t in items):
        if checkpoint_every is not None:
            raise UsageError("--checkpoint-every is not supported for a run of actors; --sign-key signs "
                             "every chain of the run when it ends")
        if calls or stdin is not None:
            raise UsageError("--call and --stdin are not supported for a run of actors; give them to a "
                             "single actor's recording")
        with open_store(db, create=True) as store:
            _record_run(store, m, seed=seed, init_param=init_param,
                        items=[(i.kind, i.payload, t) for i, t in items], to=to, sink=sink,
                        key=key, as_json=as_json)
        return
    with open_store(db, create=True) as store:
        with interruptible() as stop:  # Ctrl-C: exit 130, the chain kept as incomplete
            result = do_record(m, store, seed=seed, init_param=init_param,
                               inputs=[i for i, _ in items], sink=sink,
                               sign_key=key, checkpoint_every=checkpoint_every, interrupt=stop,
                               stdin=stdin)
        if as_json:
            one = {"chain": result.chain, "actor": m.name, "events": result.events, "head": result.head.hex(),
                   "outcome": result.outcome}
            emit_json({**result.to_json(), "run": result.chain, "chains": [one], "db": str(store.path)})
        else:
            click.echo(inert(f"recorded chain {result.chain}: {result.events} events, "
                             f"head {result.head.hex()[:16]}, {result.outcome} (db {store.path})"))
            if result.error:
                what = "returned an error" if result.outcome == EndOutcome.ERROR else result.outcome
                hint = (f" (the manifest's [limits] fuel is {m.fuel} per call)"
                        if "all fuel consumed" in result.error else "")
                err(f"theater: the actor {what}: {result.error}{hint}")
    if not result.ok:
        raise Exit(ExitCode.FAILED)


MAX_STDIN = 64 << 20


def read_stdin_file(path: Path) -> bytes:
    """The bytes of ``--stdin FILE`` (at most 64 MiB), or a one-line UsageError."""
    from ..manifest import TooLarge, read_bounded

    try:
        return read_bounded(path, MAX_STDIN)
    except TooLarge as e:
        raise UsageError(f"--stdin {path}: {e.strerror} (at most {MAX_STDIN >> 20} MiB)") from None
    except OSError as e:
        raise UsageError(f"--stdin {path}: {e.strerror or e}") from None


def _record_run(store: Any, m: Any, *, seed: int | None, init_param: str | None,
                items: list[tuple[str, bytes, str | None]],
                to: str | None, sink: Any, key: Any, as_json: bool) -> None:
    """``record`` of a manifest that grants the message-server or the supervisor: a run."""
    from ..system import RunInput, record_run

    with interruptible() as stop:  # Ctrl-C: exit 130, every chain kept as incomplete
        result = record_run(m, store, seed=seed, init_param=init_param,
                            inputs=[RunInput(k, p, t or to) for k, p, t in items], sink=sink, interrupt=stop)
    if key is not None:
        from ..checkpoint import sign_checkpoint

        for c in result.chains:
            if c.events:
                sign_checkpoint(store, c.chain, key, size=c.events, head=c.head)
    if as_json:
        emit_json({**result.to_json(), "db": str(store.path)})
    else:
        click.echo(inert(f"recorded run {result.run}: {len(result.chains)} chains, "
                         f"{sum(c.events for c in result.chains)} events (db {store.path})"))
        for c in result.chains:
            click.echo(inert(f"  {c.chain}  {c.actor:<16} {c.events:>6} events  head {c.head.hex()[:16]}  "
                             f"{c.outcome or 'incomplete'}"))
        if result.stopped_by:
            err(f"theater: {result.stopped_by}")
        elif result.error:
            what = "returned an error" if result.outcome == EndOutcome.ERROR else result.outcome
            err(f"theater: the root actor {what}: {result.error}")
    if not result.ok:
        raise Exit(ExitCode.FAILED)


COMMANDS = [record]
