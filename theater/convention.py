"""The actor calling convention: how theater calls an actor's exports and reads what
they return, the one place both the recorder (theater/recorder.py) and the replayer
(replay/replayer.py) take it from.

An actor exports ``theater:simple/actor#init(state, (param,))`` and, optionally,
``theater:simple/message-server-client#handle-send(state, (payload,))`` and
``#handle-request(state, (request-id, payload))``. Each returns ``ok((new-state, ...))``
or ``err(string)``; the run stops early when the actor calls
``theater:simple/runtime#shutdown``. The chain ends with an end event
``{"outcome": ..., "error": ...}`` (docs/chain-format.md).
"""

from __future__ import annotations

from typing import Any

from .canonical import canonical_json
from .errors import UsageError
from .outcomes import EndOutcome

__all__ = [
    "ACTOR", "HTTP_HANDLERS", "MESSAGES", "NOTE_PREFIX", "REJECTED_TYPE", "RUN_END_FIELDS", "RUNTIME",
    "SUPERVISED", "apply_result", "continues_after_error", "end_data", "end_detail", "exit_outcome",
    "export_args", "is_actor_call", "is_exit_call", "is_shutdown_call", "replayed_end", "shutdown_requested",
]

ACTOR = "theater:simple/actor"
MESSAGES = "theater:simple/message-server-client"
RUNTIME = "theater:simple/runtime"
#: exported by an actor that ``theater serve`` runs: one ``handle-request`` per HTTP request
HTTP_HANDLERS = "theater:simple/http-handlers"
#: Events the host records between export calls, facts of no crossing (a request
#: ``theater serve`` refused before the actor saw it): replay carries them over as recorded.
NOTE_PREFIX = "serve:"
REJECTED_TYPE = "serve:http#rejected"
SUPERVISED = "theater:simple/supervisor-handlers"


def export_args(kind: str, state: bytes | None, payload: Any, n: int) -> tuple[str, str, tuple[Any, ...]]:
    """Interface, function and arguments of one export call (``n``: its position,
    which names a request ``request-<n>``)."""
    if kind == "init":
        return ACTOR, "init", (state, (payload,))
    if kind == "send":
        return MESSAGES, "handle-send", (state, (payload,))
    if kind == "request":
        return MESSAGES, "handle-request", (state, (f"request-{n}", payload))
    if kind == "http":  # payload: an http-request record; handler id 0
        return HTTP_HANDLERS, "handle-request", (state, (0, payload))
    raise UsageError(f"unknown input kind {kind!r}")


def is_actor_call(interface: str) -> bool:
    """Whether an export's interface (any version) is one whose results theater reads
    by the calling convention; any other export's result is recorded, not read."""
    return interface.partition("@")[0] in (ACTOR, MESSAGES, SUPERVISED, HTTP_HANDLERS)


def apply_result(function: str, result: Any, interface: str = MESSAGES) -> tuple[bool, bytes | None, Any, str | None]:
    """Interpret an export's result: (ok, new state, response, error message).

    Only the theater:simple exports are read by the convention (``interface``); the
    result of any other export (``theater record --call``) is ``ok`` with the value as
    the response, and so is a theater:simple result of another shape (a component
    replayed with ``--component`` whose types changed), never an exception."""
    if not is_actor_call(interface):
        return True, None, result, None
    if isinstance(result, str):  # err(string) arrives untagged
        return False, None, None, result
    if function in ("handle-request", "handle-channel-open") and isinstance(result, tuple) and len(result) == 2:
        new_state, response = result  # (state, (response,)) or (state, (channel-accept,))
        if isinstance(response, tuple) and len(response) == 1:
            return True, new_state, response[0], None
    if isinstance(result, tuple) and len(result) == 1:
        return True, result[0], None, None
    return True, None, result, None


def continues_after_error(interface: str) -> bool:
    """Whether the run goes on after this export returned ``err``: a served request's
    error is answered (500) and the next request served with the state before it."""
    return interface.partition("@")[0] == HTTP_HANDLERS


def end_detail(error: str | None) -> dict[str, Any]:
    """The fields of the end event beside its outcome."""
    return {} if error is None else {"error": error}


def end_data(outcome: EndOutcome | str, error: str | None, extra: dict[str, Any] | None = None) -> bytes:
    """The canonical bytes of the end event of a run that ended with ``outcome``."""
    return canonical_json({"outcome": outcome, **end_detail(error), **(extra or {})})


#: fields of an end event that the run wrote, not the actor (theater/system): its links,
#: the messages it left undelivered, and ``reason`` when the run ended the chain
RUN_END_FIELDS = ("cause", "reason", "to", "undelivered")


def replayed_end(recorded: Any, outcome: EndOutcome | str, error: str | None) -> bytes:
    """The end event a replay of one actor of a run writes, given the recorded end
    event's payload: the run's fields are inputs (taken as recorded), and an end the
    run decided (``reason``: stopped by its parent, a run limit) is the recorded one
    when the replayed actor itself ran to the end of its calls."""
    rec = recorded if isinstance(recorded, dict) else {}
    extra = {k: rec[k] for k in RUN_END_FIELDS if k in rec}
    if "reason" in rec and outcome == EndOutcome.COMPLETED and error is None:
        outcome, error = str(rec.get("outcome")), rec.get("error") if isinstance(rec.get("error"), str) else None
    return end_data(outcome, error, extra)


def is_shutdown_call(type_: str) -> bool:
    """Whether a host crossing's event type is the actor asking to stop."""
    return type_.startswith(f"host:{RUNTIME}") and type_.endswith("#shutdown")


def is_exit_call(type_: str) -> bool:
    """Whether a host crossing's event type is ``wasi:cli/exit#exit`` (any 0.2.x)."""
    return type_.startswith("host:wasi:cli/exit") and type_.endswith("#exit")


def exit_outcome(ok: bool) -> tuple[EndOutcome, str | None]:
    """How a run ends when the actor called ``wasi:cli/exit#exit``: ``ok`` stops it,
    ``err`` is an error (what a process's exit status says)."""
    return (EndOutcome.STOPPED, None) if ok else (EndOutcome.ERROR, "the actor exited with an error status")


def shutdown_requested(runtime_handler: Any) -> bool:
    """Whether the live runtime handler (theater.handlers.runtime) saw a shutdown call."""
    return runtime_handler is not None and runtime_handler.shutdown_requested is not False
