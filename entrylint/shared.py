"""What the profiles of one check share (api.check: MODEL 6's profiles, one
after the other).

A file whose preprocessed lines do not depend on the configuration (crypto
and library code, most of arch/x86, a macro program without ``#if``) gets
the same GNU as expansion under every profile (``api._expand_shared``).
Its program is then the same too, unless the configuration reaches it by
one of the few ways it can (the list is ``build_program``'s and
``api.expand``'s reads of the configuration):

* the CPU feature names the headers define and the alternative flag layout
  (``ALT_FLAGS_SHIFT``...);
* the native side of paravirt patch sites, read per configuration: a
  program with a site is never shared.

When none differs, the program built for the first profile is the program
of the next (a copy that differs in the features the configuration
compiles out: ``Program.disabled``), and so are what is made of its
instructions alone: the CFG, the call structure, flags, and liveness when
every call out of the file it asked about gets the same answer under the
new profile (``Callees`` reads other files per configuration), and the
macros that wrote each label (``entries.label_macros``).  The entry
points (their assumptions read ``disabled``), the walk (its transfer
functions read the configuration's tree facts) and the rules run per
profile; the walks of the profiles that share the program share a
``walking.StepMemo`` (a new program starts a new one: what it would keep of
another program's steps costs memory and served none): a step made under a
transfer configuration of the same key is looked up, and on the shared CFG
the plan of each node is made once (``StepMemo.plans_for``; arch/x86/crypto,
-j 1: the walks 2.0 -> 1.2 s).  One check holds one ``Shared``; nothing
outlives it.
"""

from __future__ import annotations

from dataclasses import field, replace

from entrylint.program.build import macro_facts
from entrylint.source.record import data


def _read_of(macros) -> tuple:
    """What building a program reads of the cpp macros, but ``DISABLED_MASKn``
    (read into ``Program.disabled`` alone, made per profile)."""
    features, _, layout = macro_facts(macros)
    return features, layout


def _answer(callee) -> tuple:
    return (getattr(callee, "reads", None), getattr(callee, "clobbers", None))


class LoggedCallees:
    """``callees`` that notes each name asked and its answer."""

    def __init__(self, inner):
        self.inner = inner
        self.log: dict[str, tuple] = {}

    def __call__(self, name):
        got = self.inner(name)
        self.log[name] = _answer(got)
        return got


@data
class Shared:
    gas: object = None  # the GNU as expansion the program was built from
    decoder: object = None
    mode: int = 0
    layout: bool = False
    macros: object = None  # the cpp macros it was built with
    sites: bool = True  # the program has paravirt patch sites (read per configuration)
    program: object = None
    problems: list = field(default_factory=list)  # the build's (and layout's) problems
    # made of the program's instructions alone, with the callee answers liveness read
    cfg: object = None
    procedures: object = None
    liveness: object = None
    flags: object = None
    asked: dict = field(default_factory=dict)
    labels: dict | None = None  # entries.label_macros of the program's statements
    kinds: dict = field(default_factory=dict)  # each symbol's entry classification (entries.find_entries)
    _read: tuple | None = None  # what the build read of ``macros`` (made when first compared)
    cpp_lines: int = 0  # lines the check's preprocessor runs read so far (the cpp-lines limit)
    lines: object = None  # the lines the last profile's GNU as expansion read
    visits: int = 0  # (node, tuple) visits the check's walks made so far (the analysis-visits limit)
    steps: int = 0  # their transfer steps (the analysis-steps limit)
    memo: object = None  # the walks' steps and plans (walking.StepMemo), made on first use

    def step_memo(self):
        """The check's StepMemo: a profile's walk looks up the steps an
        earlier profile's made (under a transfer configuration of the same
        key), and, on the CFG it shares, takes the plans of its nodes (the
        last walk itself is not kept)."""
        if self.memo is None:
            from entrylint.analysis.walking import StepMemo

            self.memo = StepMemo(keep_walk=False)
        return self.memo

    def program_for(self, gas, macros, dec, mode: int, layout: bool):
        """The kept program and its problems, when this profile would build
        the same one: a copy whose ``disabled`` is what the build sets from
        this profile's headers (``api.expand`` adds what its configuration
        rules out, as for a program it builds); else None."""
        if self.program is None or self.sites or gas is not self.gas or dec is not self.decoder \
                or mode != self.mode or layout != self.layout:
            return None
        if self._read is None:
            self._read = _read_of(self.macros)
        read = _read_of(macros)
        if read != self._read:
            return None
        # the same instructions, forks and symbols; the features this configuration compiles out its own
        return replace(self.program, disabled=set(macro_facts(macros)[1])), list(self.problems)

    def keep_program(self, gas, macros, dec, mode: int, layout: bool, program, problems, sites: bool) -> None:
        self.__init__(gas=gas, decoder=dec, mode=mode, layout=layout, macros=macros, sites=sites,
                      program=program, problems=list(problems), cpp_lines=self.cpp_lines, visits=self.visits,
                      steps=self.steps, lines=self.lines)

    def analysis_for(self, program, callees):
        """(cfg, procedures, liveness, flags) kept for ``program``'s
        instructions (else None); liveness None when ``callees`` does not
        answer every question it asked as before.  None of them reads which
        features are compiled out (the entry points do: they are made anew)."""
        if self.cfg is None or program.instructions is not self.program.instructions:
            return None
        same = callees is not None and all(_answer(callees(n)) == a for n, a in self.asked.items())
        return self.cfg, self.procedures, self.liveness if same else None, self.flags

    def keep_analysis(self, program, cfg, procedures, liveness, flags, asked: dict) -> None:
        if program is self.program:
            self.cfg, self.procedures = cfg, procedures
            self.liveness, self.flags, self.asked = liveness, flags, dict(asked)

    def entry_facts(self, program) -> tuple[dict, dict | None]:
        """What ``entries.find_entries`` reads of the program alone: the
        macros of each label (``label_macros``) and a table of each symbol's
        classification, made once for the profiles whose program is the
        kept one (its statements, symbols and CFG); (labels, None) for
        another program."""
        from entrylint.analysis.entries import label_macros

        if self.program is None or program.statements is not self.program.statements:
            return label_macros(program), None
        if self.labels is None:
            self.labels = label_macros(program)
        return self.labels, self.kinds
