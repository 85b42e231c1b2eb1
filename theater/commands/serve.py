"""``theater serve``: run an HTTP actor on a real server, recording every request."""

from __future__ import annotations

import click

from ..cli import Exit, db_option, emit_json, err, interruptible, json_option, open_store
from ..errors import ExitCode
from ..text import inert


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port, printed when bound).")
@click.option("--max-body", type=click.IntRange(min=0), default=1024 * 1024, show_default=True, metavar="BYTES",
              help="Largest request body; a larger one is answered 413 and recorded.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=None, help="Random seed (overrides the manifest's).")
@click.option("--quiet", "-q", is_flag=True, help="Do not show the actor's log and stdout lines.")
@json_option
def serve(manifest: str, db: str | None, host: str, port: int, max_body: int, seed: int | None, quiet: bool,
          as_json: bool) -> None:
    """Serve the HTTP actor of MANIFEST and record every request into one chain.

    The actor exports theater:simple/http-handlers#handle-request. Requests are
    answered one at a time in arrival order, each committed before it is answered.
    Ctrl-C or SIGTERM ends the chain cleanly (exit 0); `theater replay CHAIN --verify`
    replays the requests without opening a port.
    """
    from ..manifest import load_manifest
    from ..serve import serve as do_serve

    m = load_manifest(manifest)

    def sink(kind: str, text: str) -> None:
        if kind == "warning":
            click.echo(f"theater: warning: {inert(text)}", err=True)
        elif not quiet:
            click.echo(f"[{kind}] {inert(text)}", err=True)

    def ready(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        click.echo(f"theater: serving {inert(m.name)} on http://{shown}:{bound_port}/ (Ctrl-C to stop)", err=True)

    with open_store(db, create=True) as store:
        with interruptible() as stop:
            result = do_serve(m, store, host=host, port=port, max_body=max_body, seed=seed, interrupt=stop,
                              on_ready=ready, sink=sink)
        if as_json:
            emit_json({**result.to_json(), "db": str(store.path)})
        else:
            click.echo(inert(f"recorded chain {result.chain}: {result.requests} requests, {result.rejected} refused, "
                             f"{result.events} events, head {result.head.hex()[:16]}, {result.outcome} "
                             f"(db {store.path})"))
            if result.error:
                err(f"theater: the actor {result.outcome}: {result.error}")
    if not result.ok:
        raise Exit(ExitCode.FAILED)


COMMANDS = [serve]
