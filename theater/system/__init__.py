"""A run: a system of actors recorded together, one chain per actor, scheduled
deterministically on one thread.

``record_run(manifest, store, ...)`` starts the root actor; the ``supervisor`` handler
spawns children (each on its own chain in the same database), the ``message-server``
handler carries messages between them. The rules (docs/actors.md, "Runs"):

- **One total order.** Every message gets a number when it is sent; the scheduler
  delivers the lowest-numbered message whose receiver is free, one export call at a
  time (a FIFO mailbox per actor). A CLI input goes to its actor, then the run is
  drained before the next input.
- **Requests are nested.** ``request`` and ``open-channel`` run the receiver's
  ``handle-request`` / ``handle-channel-open`` inside the asker's host call, after
  delivering the receiver's earlier messages from the asker (FIFO per pair of actors
  whatever the kind). A receiver that is already on the call stack (A asks B asks A)
  is a request cycle: an ``err`` result in the asker's chain, never a deadlock. A
  deferred answer (``handle-request`` returned none) is awaited by delivering other
  messages until ``respond-to-request`` or ``cancel-request`` settles it.
- **Derived ids.** Actor, request and channel ids come from the chain and the event
  that made them (theater/links.py); a child without a seed of its own gets one
  derived from the run's seed and its id, recorded in its header.
- **Links in the hashed data.** A received message's event carries ``cause`` (the
  sender's chain, seq and hash); a sending event carries ``to`` (the receiver's chain,
  and for a request or a spawn the receiver's event). A child's header names the run,
  its parent chain and the spawn event.
- **Limits and failures are recorded.** ``[limits] messages``, ``actors``, ``mailbox``
  and ``depth`` of the root manifest bound the run; reaching one ends every chain with
  the reason. A message to an unknown or stopped actor, a request cycle, a missing
  manifest are ``err`` results in the caller's chain. A child that traps or returns
  ``err`` ends its chain and its parent's ``handle-child-error`` is called.
"""

from __future__ import annotations

from .model import SYSTEM_HANDLERS, ChainSummary, Limits, RunInput, RunResult, is_system
from .run import Run, record_run

__all__ = ["SYSTEM_HANDLERS", "ChainSummary", "Limits", "Run", "RunInput", "RunResult", "is_system", "record_run"]
