"""The supervisor handler: ``theater:simple/supervisor`` (spawn, resume, list-children,
stop-child, restart-child, get-child-state, get-child-events) for an actor of a run.

The live functions are served by the run's scheduler (theater/system.py), which
starts each child on its own chain linked to the spawn event; see
:class:`theater.handlers.message_server.RunBound`.
"""

from __future__ import annotations

from . import LiveFn
from .message_server import RunBound

INTERFACE = "theater:simple/supervisor"
FUNCTIONS = ("spawn", "resume", "list-children", "stop-child", "restart-child", "get-child-state",
             "get-child-events")


class SupervisorHandler(RunBound):
    type = "supervisor"
    interfaces = {INTERFACE: FUNCTIONS}

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {INTERFACE: {name: self._serve(name.replace("-", "_")) for name in FUNCTIONS}}
