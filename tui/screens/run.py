"""One run (issue 19 item 8): the supervision tree of its actors, each with its chain's
events and status; ``v`` verifies the run with its links (verify/links.py), marking
each actor and listing every broken link by chain and seq."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static, Tree
from textual.widgets.tree import TreeNode

from theater.errors import ChainNotFound
from theater.store import Store
from theater.store.runs import RunChain, RunInfo, run_summary
from theater.text import inert, inert_line
from verify.links import LinkProblem, RunVerifyResult, verify_run

from ..data import chain_status
from ..footer import KeysFooter

if TYPE_CHECKING:
    from ..app import TheaterApp

RUNNING = "running"
MOVE = Binding.Group("Move", compact=True)


class RunVerified(Message):
    """A worker finished verifying a run."""

    def __init__(self, result: RunVerifyResult) -> None:
        super().__init__()
        self.result = result


def problem_line(p: LinkProblem) -> Text:
    """``✗ broken_link  <chain> seq 3  ↔  <other> seq 1: message`` (database text inert)."""
    text = Text.assemble(("✗ ", "bold red"), (inert_line(p.kind), "bold red"), "  ",
                         (inert_line(p.chain), "bold"))
    if p.seq is not None:
        text.append(f" seq {p.seq}")
    if p.other_chain is not None:
        text.append("  ↔  ").append(inert_line(p.other_chain), "bold")
        if p.other_seq is not None:
            text.append(f" seq {p.other_seq}")
    return text.append(f": {inert(p.message)}")


class RunScreen(Screen[None]):
    """The actors of one run as a tree (a child under the actor that spawned it);
    ``enter`` opens an actor's chain, ``v`` verifies the whole run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify run", id="verify-run",
                tooltip="Verify every chain of the run and every link between them"),
        Binding("j", "cursor(1)", "Down", id="run-down", group=MOVE, tooltip="The next actor"),
        Binding("k", "cursor(-1)", "Up", id="run-up", group=MOVE, tooltip="The previous actor"),
        Binding("enter", "open", "Open", id="run-open", tooltip="Open the highlighted actor's chain"),
        Binding("escape", "back", "Back", id="run-back", tooltip="Back"),
    ]

    DEFAULT_CSS = """
    RunScreen #run-info { height: auto; padding: 0 1; background: $boost; }
    RunScreen Tree { height: 1fr; padding: 0 1; }
    RunScreen #run-result { display: none; height: auto; max-height: 40%; padding: 0 1;
        border-top: solid $panel-lighten-2; }
    RunScreen #run-result.shown { display: block; }
    RunScreen #run-result.failed { background: $error 15%; border-left: thick $error; }
    """

    def __init__(self, run: RunInfo) -> None:
        super().__init__()
        self.run = run
        self.result: RunVerifyResult | str | None = None

    @property
    def theater(self) -> TheaterApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="run-info")
        tree: Tree[str] = Tree("run", id="run-tree")
        tree.show_root = False
        tree.auto_expand = False
        yield tree
        with VerticalScroll(id="run-result"):
            yield Static(id="run-result-body")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = f"run {inert_line(self.run.id)}"
        self.reload()
        self.query_one(Tree).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    # -- the tree ---------------------------------------------------------------------

    def chain_verdict(self, chain_id: str) -> Text:
        r = self.result
        if r == RUNNING:
            return Text("verifying…", style="yellow")
        if not isinstance(r, RunVerifyResult):
            return Text("")
        own = next((c for c in r.chains if c.chain == chain_id), None)
        links = [p for p in r.problems if p.chain == chain_id]
        if own is None or not own.ok:
            return Text(f"✗ {inert_line(own.problem.kind) if own and own.problem else 'missing'}", style="bold red")
        if links:
            return Text(f"✗ {len(links)} link problem{'s' if len(links) > 1 else ''}", style="bold red")
        return Text("✓ verified", style="green")

    def label(self, c: RunChain) -> Text:
        """``name  N events  status (outcome)  verdict  chain <id>  actor <id>``."""
        store = self.theater.store
        text = Text.assemble((inert_line(c.name), "bold"), "  ")
        try:
            info = store.chain(c.chain)
        except ChainNotFound:
            text.append("chain missing", "bold red")
        else:
            last = store.last_event(c.chain)
            payload = last.payload() if last is not None and last.type == "end" else None
            outcome = payload.get("outcome") if isinstance(payload, dict) else None
            text.append(f"{info.length:,} events  ").append(chain_status(info.display_status, info.replay_of))
            if isinstance(outcome, str):
                text.append(f" ({inert_line(outcome)})", "dim")
        verdict = self.chain_verdict(c.chain)
        if verdict.plain:
            text.append("  ").append_text(verdict)
        return text.append(f"  chain {inert_line(c.chain)}  actor {inert_line(c.actor_id)}", "dim")

    def reload(self) -> None:
        """Re-read the run's chains and redraw the tree (keeping the cursor's actor)."""
        tree: Tree[str] = self.query_one(Tree)
        cursor = tree.cursor_node.data if tree.cursor_node is not None else None
        summary = run_summary(self.theater.store, self.run)
        info = Text.assemble(("run ", "dim"), (inert_line(self.run.id), "bold"),
                             f"  root actor {inert_line(self.run.root)}  {len(self.run.chains)} actors  "
                             f"{summary.events:,} events  {inert_line(summary.status)}")
        if summary.outcome:
            info.append(f" ({inert_line(summary.outcome)})", "dim")
        self.query_one("#run-info", Static).update(info)
        tree.clear()
        nodes: dict[str, TreeNode[str]] = {}
        for c in sorted(self.run.chains, key=lambda c: c.ord):  # a parent starts before its children
            parent = nodes.get(c.parent, tree.root) if c.parent is not None else tree.root
            nodes[c.chain] = parent.add(self.label(c), data=c.chain, expand=True)
        line = next((n.line for n in nodes.values() if n.data == cursor), 0) if cursor else 0
        tree.cursor_line = max(0, line)

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        self.open_node(event.node)

    def open_node(self, node: TreeNode[str] | None) -> None:
        if node is not None and node.data is not None and self.theater.store.chain_exists(node.data):
            self.theater.open_chain(node.data)

    def action_open(self) -> None:
        self.open_node(self.query_one(Tree).cursor_node)

    def action_cursor(self, delta: int) -> None:
        tree = self.query_one(Tree)
        tree.action_cursor_down() if delta > 0 else tree.action_cursor_up()

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- verify -----------------------------------------------------------------------

    def action_verify(self) -> None:
        self.result = RUNNING
        self.reload()
        self.verify_worker()

    @work(thread=True, exclusive=True, group="verify-run")
    def verify_worker(self) -> RunVerifyResult:
        """Verify the run on a connection of its own; post the result back."""
        with Store(self.theater.db_path, create=False) as store:
            result = verify_run(store, self.run)
        self.post_message(RunVerified(result))
        return result

    def on_run_verified(self, message: RunVerified) -> None:
        r = message.result
        self.result = r
        for c in r.chains:
            self.theater.verified[c.chain] = c
        self.reload()
        box = self.query_one("#run-result")
        body = Text(inert(r.summary()), style="bold green" if r.ok else "bold red")
        for c in r.chains:
            if not c.ok:
                body.append("\n").append(f"✗ {inert(c.summary())}", "red")
        for p in r.problems:
            body.append("\n").append_text(problem_line(p))
        self.query_one("#run-result-body", Static).update(body)
        box.add_class("shown")
        box.set_class(not r.ok, "failed")
        if r.ok:
            self.notify(inert(r.summary()), title="run verified", markup=False)
        else:
            self.notify(inert(r.summary()), title="run verification failed", severity="error", markup=False)
