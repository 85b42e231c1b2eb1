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
    "ACTOR", "MESSAGES", "RUN_END_FIELDS", "RUNTIME", "SUPERVISED", "apply_result", "end_data", "end_detail",
    "export_args", "replayed_end",
    "is_shutdown_call", "shutdown_requested",
]

ACTOR = "theater:simple/actor"
MESSAGES = "theater:simple/message-server-client"
RUNTIME = "theater:simple/runtime"
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
    raise UsageError(f"unknown input kind {kind!r}")


def apply_result(function: str, result: Any) -> tuple[bool, bytes | None, Any, str | None]:
    """Interpret an export's result: (ok, new state, response, error message)."""
    if isinstance(result, str):  # err(string) arrives untagged
        return False, None, None, result
    if function in ("handle-request", "handle-channel-open"):  # (state, (response or channel-accept,))
        new_state, (response,) = result
        return True, new_state, response, None
    (new_state,) = result
    return True, new_state, None, None


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


def shutdown_requested(runtime_handler: Any) -> bool:
    """Whether the live runtime handler (theater.handlers.runtime) saw a shutdown call."""
    return runtime_handler is not None and runtime_handler.shutdown_requested is not False
