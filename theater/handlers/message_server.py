"""The message-server handler: ``theater:simple/message-server-host`` (send, request,
channels, deferred answers) for an actor of a run.

Like every handler it is only the live implementation: each function hands the call
to the run's scheduler (theater/system.py, attached with :meth:`attach`), which
delivers, links and answers deterministically. Without a run attached (a replay
never builds handlers; a handler built outside a run) every call is refused.
"""

from __future__ import annotations

from typing import Any

from ..errors import HostRefusal
from . import Handler, LiveFn

INTERFACE = "theater:simple/message-server-host"
FUNCTIONS = ("send", "request", "open-channel", "send-on-channel", "close-channel",
             "list-outstanding-requests", "respond-to-request", "cancel-request")


class RunBound(Handler):
    """A handler whose functions are served by the run it is attached to."""

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        self.port: Any = None
        self.actor: Any = None

    def attach(self, port: Any, actor: Any) -> None:
        """Serve this actor's calls from ``port`` (the run's scheduler)."""
        self.port, self.actor = port, actor

    def _serve(self, method: str) -> LiveFn:
        def live(store: Any, *args: Any) -> Any:
            if self.port is None:
                raise HostRefusal(f"the {self.type} handler is not part of a run")
            return getattr(self.port, method)(self.actor, *args)

        return live


class MessageServerHandler(RunBound):
    type = "message-server"
    interfaces = {INTERFACE: FUNCTIONS}

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {INTERFACE: {name: self._serve(name.replace("-", "_")) for name in FUNCTIONS}}
