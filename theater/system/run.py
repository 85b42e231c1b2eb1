"""``record_run``: a run from its root manifest to its last chain's end event."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..convention import MESSAGES, export_args
from ..errors import Interrupted, UsageError
from ..manifest import Manifest
from ..outcomes import EndOutcome
from ..runtime import (
    Interrupt,
)
from ..store import Store
from .messaging import Messaging
from .model import (
    RunInput,
    RunResult,
)
from .supervision import Supervision


class Run(Messaging, Supervision):
    """One recording of a system of actors (theater/system/__init__.py)."""


def record_run(
    manifest: Manifest,
    store: Store,
    *,
    seed: int | None = None,
    init_param: str | None = None,
    inputs: Sequence[RunInput] = (),
    sink: Callable[[str, str], None] | None = None,
    interrupt: Interrupt | None = None,
) -> RunResult:
    """Record a run rooted at ``manifest``: every actor on its own chain of ``store``.

    With ``interrupt`` (set by a signal handler) the run stops at the next host call
    or export boundary: every chain is kept incomplete and :class:`Interrupted` is
    raised."""
    run = Run(store, manifest, seed=seed, sink=sink, interrupt=interrupt)
    responses: list[bytes | None] = []
    try:
        root = run.start(init_param=init_param)
        run.drain()
        for n, inp in enumerate(inputs, 1):
            if root.done or run.stopped_by is not None:
                break
            to = root if inp.to is None else run.resolve(inp.to)
            if to is None:
                raise UsageError(f"--to {inp.to}: no actor of that name or id in the run "
                                 f"(actors: {', '.join(a.name for a in run.incarnations)})")
            if to.done:
                continue
            fn = "handle-send" if inp.kind == "send" else "handle-request"
            if not to.exports(MESSAGES, fn):
                raise UsageError(f"--{inp.kind} needs an actor that exports {MESSAGES}#{fn}; {to.label()} does not")
            _, _, args = export_args(inp.kind, to.state, inp.payload, n)
            response = run._call(to, fn, args)
            if inp.kind == "request":
                responses.append(None if response is None else bytes(response))
            run.drain()
            run.flush()  # each CLI input, and all it caused, committed before the next
        run.finish()
    except Interrupted as e:
        run.abandon()
        raise e.again(f"{e.what}: run {run.run_id or '(not started)'}: its {len(run.incarnations)} chains kept "
                      "as incomplete (each verifies as a prefix)") from None
    except BaseException:
        run.abandon()
        raise
    ended = run.root
    assert ended is not None
    root = ended
    return RunResult(run=run.run_id, chain=root.writer.chain_id, events=root.lw.length, head=root.writer.head,
                     outcome=root.outcome or EndOutcome.COMPLETED, chains=run.summaries(), error=root.error,
                     state=root.state, responses=tuple(responses), stopped_by=run.stopped_by)
