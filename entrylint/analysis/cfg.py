"""The control-flow graph over the expanded program (MODEL 2.5).

Nodes are instruction indices ``0..n-1`` plus one node per alternative fork
(``n + fork.index``).  Control reaching the site of a fork goes to the fork's
node, which branches to the original code (every feature of the fork assumed
off) and to each replacement (its feature on, later ones off); the end of a
replacement continues after the original.  Several forks can sit at one place
(``ALTERNATIVE ""`` twice in a row): they are chained in program order.

Calls keep a return edge; the callee is a separate question for the analysis
(asm summary, C ABI).  Returns, exits to user, ``iretq`` and indirect jumps
end a path here: the analysis decides what they mean for a tuple.

An instruction with an exception-table entry (``program.extable``: the GS
selector load of load_gs_index, a 32-bit ``iret``, segment pops) also has a
``fault`` edge to its fixup (MODEL 3: "Exception-table fixups are edges");
the state it carries is the forward walk's question.
"""

from __future__ import annotations

from entrylint.analysis.state import Feature
from entrylint.program.constants import XENPV
from entrylint.program.effects import NO_FALLTHROUGH, Flow
from entrylint.program.model import AltFork, Program
from entrylint.source.record import record

Assume = tuple[tuple[str, Feature], ...]


@record
class Edge:
    dst: int  # node id
    kind: str  # next, jump, taken, not-taken, call-return, alt-orig, alt-repl, alt-end
    assume: Assume = ()


# CPU features whose value the state records on a path (MODEL 3): those that
# decide CR3, GS or the entry path.  A fork on any other feature (SMAP, IBRS,
# retbleed thunks...) still branches, but without an assumption: recording
# every feature would multiply the tuples by 2^k for k unrelated features.
TRACKED_FEATURES = frozenset({"X86_FEATURE_PTI", "X86_FEATURE_KAISER", "X86_FEATURE_PCID",
                              XENPV, "X86_FEATURE_FSGSBASE", "X86_FEATURE_FRED",
                              "X86_FEATURE_INVPCID_SINGLE"})


# the kind of the edge to the next instruction, by the instruction's flow
_FALL_KIND = {Flow.COND_JUMP: "not-taken", Flow.CALL: "call-return", Flow.INDIRECT_CALL: "call-return"}
COND_KINDS = frozenset({"taken", "not-taken"})  # the two edges of a conditional branch


class CFG:
    def __init__(self, program: Program, tracked: frozenset[str] = TRACKED_FEATURES) -> None:
        self.program = program
        self.tracked = tracked
        ins = program.instructions
        self.n = len(ins)
        self._next_in_section: list[int | None] = [None] * self.n
        last: dict[str, int] = {}
        for i, x in enumerate(ins):
            if x.section in last:
                self._next_in_section[last[x.section]] = i
            last[x.section] = i
        self.chains: dict[int, list[AltFork]] = {}
        for f in program.forks:
            self.chains.setdefault(f.orig_start, []).append(f)
        self._repl_end: dict[int, AltFork] = {}
        for f in program.forks:
            for r in f.replacements:
                if r.insns:
                    self._repl_end[r.insns[-1]] = f
        self._succ: dict[int, tuple[Edge, ...]] = {}
        self._preds: dict[int, list[int]] | None = None  # preds(), made on first use
        # liveness.succ_nodes' answers, made once per node (liveness, the
        # flags and rules ask it of every node)
        self.resolved_succ: dict[int, tuple[int, ...]] = {}
        # a replacement's instructions -> (fork, the position just past the replacement)
        self._repl_of: dict[int, tuple[AltFork, int]] = {}
        for f in program.forks:
            for r in f.replacements:
                for i in r.insns:
                    self._repl_of[i] = (f, r.end)
        self.fixups: dict[int, tuple[int, ...]] = {}  # faulting instruction -> its fixups' nodes
        for insn, fixup in getattr(program, "extable", ()):
            dst = self.entry(fixup)
            if dst is not None and insn < self.n:
                self.fixups[insn] = self.fixups.get(insn, ()) + (dst,)

    def rebased(self, program: Program) -> CFG:
        """This CFG for ``program``, made from this one's program by
        program/patch.py (``program.patched_from``): instructions that fall
        through on both sides made again, every node, edge, section and
        fork as it was -- the edges worked out so far are kept."""
        new = object.__new__(CFG)
        new.__dict__.update(self.__dict__)
        new.program = program
        new._succ, new.resolved_succ = dict(self._succ), dict(self.resolved_succ)
        return new

    def preds(self) -> dict[int, list[int]]:
        """Node -> the nodes with an edge to it (fault edges too), made once."""
        if self._preds is None:
            preds: dict[int, list[int]] = {}
            for v in range(self.n + len(self.program.forks)):
                for e in self.succ(v):
                    preds.setdefault(e.dst, []).append(v)
            self._preds = preds
        return self._preds

    def only_path_back(self, node: int):
        """The nodes before ``node`` on its only way in, nearest first, each
        the only predecessor of the one after it: up to a join, or a node
        nothing in the program leads to."""
        preds, seen = self.preds(), {node}
        cur = node
        while len(got := preds.get(cur, ())) == 1 and got[0] not in seen:
            cur = got[0]
            seen.add(cur)
            yield cur

    def branch_target(self, i: int, target: int | None) -> int | None:
        """The node a direct branch of instruction ``i`` goes to.  A label at
        the end of a replacement (``jb 1f`` ... ``1:``) resolves to whatever
        follows in .altinstr_replacement; once patched, it is the code after
        the patch site."""
        where = self._repl_of.get(i)
        if where is not None and target == where[1]:
            return self.continuation(where[0])
        return self.entry(target)

    # -- nodes --------------------------------------------------------------
    def fork_node(self, fork: AltFork) -> int:
        return self.n + fork.index

    def is_fork(self, node: int) -> bool:
        return node >= self.n

    def fork_of(self, node: int) -> AltFork:
        return self.program.forks[node - self.n]

    def entry(self, i: int | None) -> int | None:
        """The node control goes to when it reaches instruction ``i``."""
        if i is None or i >= self.n:
            return None
        chain = self.chains.get(i)
        return self.fork_node(chain[0]) if chain else i

    def next_insn(self, i: int) -> int | None:
        return self._next_in_section[i]

    def after(self, i: int) -> int | None:
        """The node control reaches when instruction ``i`` falls through (the
        end of a replacement continues after its patch site)."""
        fork = self._repl_end.get(i)
        if fork is not None:
            return self.continuation(fork)
        return self.entry(self.next_insn(i))

    def _after_in_chain(self, fork: AltFork) -> int | None:
        chain = self.chains[fork.orig_start]
        k = chain.index(fork)
        if k + 1 < len(chain):
            return self.fork_node(chain[k + 1])
        return fork.orig_start if fork.orig_start < self.n else None

    def continuation(self, fork: AltFork) -> int | None:
        """Where control goes after the patch site of ``fork``."""
        if not fork.orig:
            return self._after_in_chain(fork)
        return self.entry(fork.orig_end)

    # -- edges --------------------------------------------------------------
    def succ(self, node: int) -> tuple[Edge, ...]:
        got = self._succ.get(node)
        if got is None:
            got = self._succ[node] = self._edges(node)
        return got

    def _edges(self, node: int) -> tuple[Edge, ...]:
        if node >= self.n:
            return tuple(self._fork_edges(self.fork_of(node)))
        out = [Edge(dst, "fault") for dst in self.fixups.get(node, ())] if self.fixups else []
        ins = self.program.instructions[node]
        info = ins.info
        flow = info.flow if info is not None else Flow.NEXT
        if flow is Flow.JUMP:
            t = self.branch_target(node, ins.target)
            if t is not None:
                out.append(Edge(t, "jump"))
            return tuple(out)
        if flow is Flow.COND_JUMP:
            t = self.branch_target(node, ins.target)
            if t is not None:
                out.append(Edge(t, "taken"))
        if info is not None and flow in NO_FALLTHROUGH:
            return tuple(out)
        fork = self._repl_end.get(node)
        if fork is not None:  # the end of a replacement continues after its patch site
            nxt = self.continuation(fork)
            if nxt is not None:
                out.append(Edge(nxt, "alt-end"))
            return tuple(out)
        nxt = self.entry(self._next_in_section[node])
        if nxt is not None:
            out.append(Edge(nxt, _FALL_KIND.get(flow, "next")))
        return tuple(out)

    def _fork_edges(self, fork: AltFork):
        reps = fork.replacements

        def applies(j: int, on: bool) -> tuple[tuple[str, Feature], ...]:
            r = reps[j]
            if r.feature not in self.tracked:
                return ()
            want_on = on != r.negated
            return ((r.feature, Feature.ON if want_on else Feature.OFF),)

        # the original: the next fork at this place, else the first original instruction
        # (or, with an empty original, whatever follows the site)
        orig = self._after_in_chain(fork)
        if orig is not None:
            yield Edge(orig, "alt-orig", tuple(a for j in range(len(reps)) for a in applies(j, False)))
        for j, r in enumerate(reps):
            assume = applies(j, True) + tuple(a for k in range(j + 1, len(reps)) for a in applies(k, False))
            dst = r.insns[0] if r.insns else self.continuation(fork)
            if dst is not None:
                yield Edge(dst, "alt-repl", assume)
