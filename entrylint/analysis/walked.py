"""What the forward walk (forward.py) leaves: for every node the tuples
before and after it, the events rules judge, the first path to every
visited (node, tuple, context) triple as a predecessor link, the contexts,
the states user mode resumes with; and the questions rules and reports ask
of them (a path back to the entry point, the events of a kind in the walk's
order, where a ``jmp *%reg`` went)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import field

from entrylint.analysis.cfg import CFG
from entrylint.analysis.entries import Entry
from entrylint.analysis.state import Tuple
from entrylint.analysis.transfer import Event
from entrylint.source.record import data

Key = tuple[int, Tuple, int]  # (node, tuple, context: an index into Forward.contexts)
_SCANS = 4  # nodes key_at indexes one at a time before it indexes every node
_NOT_ASKED = object()


@data(frozen=True)
class Context:
    kind: str  # "entry" or "call"
    node: int  # where the activation starts
    start: Tuple
    name: str  # entry point or called symbol
    entry_kind: str = ""  # for an entry: its kind (analysis/entries.py: "paranoid", "idt", ...)


@data
class Forward:
    cfg: CFG
    entries: list[Entry]
    before: dict[int, set[Tuple]] = field(default_factory=lambda: defaultdict(set))
    after: dict[int, set[Tuple]] = field(default_factory=lambda: defaultdict(set))
    events: dict[tuple, Key] = field(default_factory=dict)  # (kind, node, tuple, detail) -> first key
    pred: dict[Key, tuple[Key | None, str]] = field(default_factory=dict)
    contexts: list[Context] = field(default_factory=list)
    seconds: float = 0.0
    reused: bool = False  # the last walk of the file, taken for this program's (analysis/rewalk.py)
    # the state user mode resumes with: after the exiting instruction's own
    # effects (FRED's ERETU restores the user GS itself), by (node, tuple before)
    exit_state: dict[tuple[int, Tuple], Tuple] = field(default_factory=dict)
    truncated: bool = False  # the visit limit was hit: results are partial (a LIMIT finding)
    truncated_by: str = ""  # which: "analysis-visits" or "analysis-steps"
    steps: int = 0  # transfer steps made (an instruction on a tuple it changes, once per pair)
    truncated_at: int | None = None  # the node the walk was about to visit when cut
    widened: int = 0  # tuples that lost their small integers at a crowded node (WIDEN)
    crowded: frozenset = frozenset()  # the nodes where that happened (analysis/shifted.py reads them)
    # the walk's tuples that hold a code position (insn:N, #N), and every
    # tuple alike in the fields before ``held`` to one of them, by those
    # fields: analysis/shifted.py's, made once per walk (None: not yet)
    held_positions: tuple | None = field(default=None, repr=False, compare=False)
    # MODEL 3 "Returns from paranoid entries": an iret back to kernel mode, by
    # (node, tuple before) -> the (entry kind, starting tuple) of the entry
    # activations that reach it, so the state resumed can be compared with the
    # state the interrupted context had; and the first visit of each, for its path
    kernel_returns: dict[tuple[int, Tuple], set[tuple[str, Tuple]]] = field(
        default_factory=lambda: defaultdict(set))
    kernel_return_keys: dict[tuple[int, Tuple, str, Tuple], Key] = field(default_factory=dict)
    # an iret the walk followed into the program (frames.py): node -> where
    frame_returns: dict[int, set[int]] = field(default_factory=dict)
    # node -> the contracted macro instances it is in (contract_instances)
    instances: dict[int, tuple] = field(default_factory=dict, repr=False)
    # key_at's answers, (node, tuple) -> key, and the nodes all of whose pairs
    # are among them (keys_at's); a walk taken again (rewalk.py: the same
    # links) shares them, a walk moved (shifted.py) starts anew
    _keys: dict = field(default_factory=dict, repr=False)
    _keyed: set = field(default_factory=set, repr=False)
    _scans: int = field(default=0, repr=False)  # nodes key_at indexed one at a time
    _by_kind: tuple | None = field(default=None, repr=False)  # event_list()'s lists, built on first use
    # what readers of the walk keep about it, by name (plugins/support.py:
    # the steps of each path a finding asked for)
    memo: dict = field(default_factory=dict, repr=False)

    @property
    def visits(self) -> int:
        return len(self.pred)

    def tuples(self) -> int:
        return sum(len(v) for v in self.before.values())

    def event_list(self, kind: str | None = None) -> list[Event]:
        """The events of ``kind`` (None: all), in the order the walk met
        them; the lists of every kind are made in one pass, on first use (a
        walk taken again keeps them with its events: rewalk.py)."""
        if kind is None:
            return [Event(k, n, t, d) for (k, n, t, d) in self.events]
        if self._by_kind is None or self._by_kind[0] != len(self.events):  # (events only ever added)
            by: dict[str, list[Event]] = {}
            for ev in self.events:
                by.setdefault(ev[0], []).append(Event(*ev))
            self._by_kind = (len(self.events), by)
        return list(self._by_kind[1].get(kind, ()))

    def key_of(self, kind: str, node: int, t: Tuple, detail: str = "") -> Key | None:
        return self.events.get((kind, node, t, detail))

    def back(self, key: Key):
        """The path to ``key`` from ``key`` back to the entry point, one step
        at a time: (node, tuple before it, how it was reached).  A rule that
        looks back a few steps from each of many events along one path pays
        for the steps it reads, not for the whole path."""
        seen = set()
        cur: Key | None = key
        while cur is not None and cur not in seen:
            seen.add(cur)
            prev, edge = self.pred.get(cur, (None, "entry"))
            yield cur[0], cur[1], edge
            cur = prev

    def back_to(self, key: Key, kept: dict) -> tuple[list[Key], Key | None]:
        """The keys of the path to ``key`` from ``key`` back to the nearest
        one in ``kept`` (what a reader of many paths keeps per key asked),
        and that one (None: none, the list reaches the entry point).  Paths
        asked along one path then cost its length once, not once each."""
        chain: list[Key] = []
        cur: Key | None = key
        while cur is not None and cur not in kept:
            chain.append(cur)
            cur = self.pred.get(cur, (None, ""))[0]
        return chain, cur

    def key_at(self, node: int, t: Tuple) -> Key | None:
        """A visited (node, tuple, context) triple, for a path: the first
        context that reached ``node`` with ``t``.  Rules ask it once per
        finding: the contexts are tried (most often one reached it); where
        several did, the pairs at the node are indexed (``keys_at``), and
        past ``_SCANS`` such nodes every node's.  Answers are kept."""
        got = self._keys.get((node, t), _NOT_ASKED)
        if got is not _NOT_ASKED:
            return got
        if node in self._keyed:
            return None
        found = self.keys_of(node, t)
        if len(found) > 1:  # (the first of them along the links)
            self._scans += 1
            return self.keys_at((node,) if self._scans <= _SCANS else {k[0] for k in self.pred}).get((node, t))
        got = self._keys[(node, t)] = found[0] if found else None
        return got

    def keys_of(self, node: int, t: Tuple) -> list[Key]:
        """The visited keys of the pair, one per context that reached
        ``node`` with ``t`` (a key is (node, tuple, context index)), in the
        contexts' order."""
        pred = self.pred
        return [k for c in range(len(self.contexts)) if (k := (node, t, c)) in pred]

    def keys_at(self, nodes) -> dict:
        """(node, tuple) -> ``key_at``'s key, for every pair at ``nodes``
        (a dict to ``get`` from), in one look along the links: a reader that
        asks about many pairs at a few nodes it knows beforehand (a rule's
        candidate sites)."""
        todo = set(nodes) - self._keyed
        if todo:
            self._keys.update({(k[0], k[1]): k for k in reversed(self.pred) if k[0] in todo})  # (the first kept)
            self._keyed |= todo
        return self._keys

    def lookups_moved(self) -> None:
        """A walk made from this one with its links moved (shifted.py) asks
        anew: key_at's answers and the lists of events by kind go."""
        self._keys, self._keyed, self._scans, self._by_kind = {}, set(), 0, None

    def register_targets(self, node: int) -> tuple[int, ...]:
        """Where the walk followed the ``jmp *%reg`` at ``node`` (register_target
        of each tuple it reached it with)."""
        ins, cfg = self.cfg.program.instructions[node], self.cfg
        return tuple(sorted({d for t in self.before.get(node, ()) if (d := register_target(ins, t, cfg)) is not None}))

    def resumed(self, node: int, before: Tuple) -> Tuple:
        """The state the CPU leaves to (user or kernel) at an exit."""
        return self.exit_state.get((node, before), before)


def register_target(ins, t: Tuple, cfg: CFG) -> int | None:
    """Where ``jmp *%reg`` (``ins``) goes on ``t``: the code address the path
    loaded into its register (movq $label, %reg: the 4.15-4.19 SYSCALL
    trampoline's JMP_NOSPEC to its second stage); None when unknown."""
    dest = {t.holds(r) for r in ins.info.regs_read if r != "rsp"}
    if len(dest) == 1 and (next(iter(dest)) or "").startswith("insn:"):
        return cfg.entry(int(next(iter(dest))[5:]))
    return None
