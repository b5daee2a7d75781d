"""Which CPU features gate a piece of code at run time (MODEL 3, 6.1).

An alternative on feature F (``ALTERNATIVE "jmp .Lend_\\@", "", F``, or the
switch as the replacement of ``ALTERNATIVE "", "...", F``) gates the code that
only its F-on side reaches: with F off, that code is never run.  This is the
static (path-insensitive) form of the question the forward analysis answers
per tuple; it also holds for code that no entry point reaches under the
current profile, e.g. a switch whose feature the configuration compiles out.
"""

from __future__ import annotations

from entrylint.analysis.cfg import CFG
from entrylint.analysis.state import Feature


class Gates:
    """The predecessor graph of a CFG, built once, and the gate question on it."""

    def __init__(self, cfg: CFG) -> None:
        self.cfg = cfg
        total = cfg.n + len(cfg.program.forks)
        self.preds: list[list[tuple[int, object]]] = [[] for _ in range(total)]
        for v in range(total):
            for e in cfg.succ(v):
                if e.dst < total:
                    self.preds[e.dst].append((v, e))
        program = cfg.program
        # where control can arrive from outside the graph: symbols (entry
        # points, functions), and code no edge reaches
        self.starts: set[int] = {cfg.entry(s.start) for s in program.symbols.values()
                                 if s.start < cfg.n} - {None}

    def gates(self, node: int, features: frozenset[str] | None = None) -> frozenset[str] | None:
        """The features whose on-side alone leads to ``node``: every path from
        a start (a symbol, or code no edge reaches) to ``node`` crosses an
        alternative edge that assumes one of them on.  None when some path
        needs none (the code is not gated); ``features`` limits which count."""
        seen = {node}
        todo = [node]
        used: set[str] = set()
        while todo:
            v = todo.pop()
            if v in self.starts or not self.preds[v]:
                return None
            for p, e in self.preds[v]:
                on = {f for f, val in e.assume if val is Feature.ON and (features is None or f in features)}
                if e.kind == "alt-repl" and on:
                    used |= on
                    continue
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return frozenset(used)
