"""The forward walk as a check runs it (api.analyze): the transfer
functions' knobs read from the program and its tree, and the walk on what
is left of the check's analysis-visits and analysis-steps budgets (source/limits.py: the
profiles of one check share it, as they share the expansion budgets; each
profile walks its own tuples, which carry the features it compiles out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from entrylint.analysis.state import Tuple
    from entrylint.analysis.transfer import Config


def walk(program, cfg, entries, config, live_out, limits, shared=None, memo=None):
    """The forward walk on what is left of the check's analysis-visits and
    analysis-steps budgets (``limits``; ``shared``: the check's Shared, None
    for a lone profile), and whether the check's earlier walks had spent
    any of them.  ``memo``: the steps of the file's earlier walks
    (StepMemo, kept by the incremental session of an edited file)."""
    from entrylint.analysis.contracts import contract_instances
    from entrylint.analysis.forward import analyze

    visits, steps = (shared.visits, shared.steps) if shared is not None else (0, 0)
    forward = None
    inst = contract_instances(program, cfg) if memo is not None else None
    if memo is not None and memo.last is not None:  # the last walk, when the edit changed nothing it reads
        from entrylint.analysis.rewalk import reused  # (an edit's: not imported by a check from the start)
        from entrylint.analysis.shifted import shifted

        forward = reused(memo, program, cfg, entries, config, live_out, limits.analysis_visits - visits,
                         limits.analysis_steps - steps, inst)
        if forward is None:  # the last walk moved over an instruction added or deleted (analysis/shifted.py)
            forward = shifted(memo, program, cfg, entries, config, live_out, limits.analysis_visits - visits,
                              limits.analysis_steps - steps, inst)
    if forward is None:
        plans = None
        if memo is not None:
            plans = memo.plans_for(cfg, config, inst)
            memo.last = memo.planned = None  # (not kept alive through the walk that replaces them)
        forward = analyze(program, cfg, entries, config, max_visits=limits.analysis_visits - visits,
                          live_out=live_out, max_steps=limits.analysis_steps - steps, memo=memo,
                          instances=inst, plans=plans)
    if shared is not None:
        shared.visits += forward.visits
        shared.steps += forward.steps
    return forward, bool(visits or steps)


class StepMemo:
    """``step()``'s results kept from one walk of a file to the next (the
    language server's edits, incremental.py; the profiles of one check,
    shared.py): an edit leaves most
    instructions as they were, and their steps on the tuples the walk meets
    again are looked up, not worked out.  A step is a function of what it
    reads of the instruction (its signature: the decoder's record of it by
    identity -- the decoder's cache gives an instruction text the same record
    in every build, and the memo keeps each record it met alive, so an id is
    never another record's -- and the operands, mode and targets by value)
    and of the transfer configuration (``Config.key``, and for a call out of
    the program what the callee clobbers, in the signature): the tables are
    emptied when the key changes, and not kept past a walk that left more than ``limit``
    results (a file at the walk's limits: what it would keep between edits
    is what its walk made at its peak, and the language server keeps a
    session per open file).  What a walk counts and records is its own: the
    analysis-steps budget counts (node, tuple) pairs stepped as before,
    looked up or not."""

    def __init__(self, limit: int = 100_000, keep_walk: bool = True):
        self.limit = limit
        # whether the last walk is kept whole, for the next to take (an
        # editor's edits); the profiles of one check keep its plans only:
        # their walks differ in the features compiled out, and the last one
        # would be held while the next profile's program is made
        self.keep_walk = keep_walk
        self.key: object = None
        self.alike: dict[tuple, int] = {}
        self.by_sig: dict[tuple[int, Tuple], tuple] = {}
        self.held: dict[int, object] = {}  # id -> the decoder record the signatures name by it
        # the last walk under these tables, for the next one to take when the
        # edit changed nothing it read (analysis/rewalk.py): (Forward, its
        # plans by node, the live registers it was given, the answers for
        # calls into other files' asm it asked: transfer.Config.external,
        # its program's labels by node: forward.labels_by_node)
        self.last: tuple | None = None
        # what plans_for() reads of the last walk: (its CFG, its contracted
        # instances, whether it followed calls into other files' asm, its plans)
        self.planned: tuple | None = None

    def tables(self, config: Config) -> tuple[dict, dict]:
        """(signature -> id, (id, tuple) -> step()'s result) for a walk under ``config``."""
        if config.key is None:  # (not comparable: nothing kept, nothing looked up)
            self.clear()
            return {}, {}
        if self.key != config.key:
            self.clear()
            self.key = config.key
        return self.alike, self.by_sig

    def keep(self, info) -> None:
        """``info``'s id stands for it in the signatures: it lives while they do."""
        self.held.setdefault(id(info), info)

    def clear(self) -> None:
        self.key, self.alike, self.by_sig, self.held, self.last, self.planned = None, {}, {}, {}, None, None

    def walked(self, forward, plans: dict, live_out, alike: dict, external, labels_at: dict) -> None:
        """Keep a finished walk made with these tables (``alike``: the
        signature table it used; another one's ids mean other things)."""
        keep = not forward.truncated and alike is self.alike and self.key is not None
        self.last = (forward, plans, live_out, external, labels_at) if keep and self.keep_walk else None
        self.planned = (forward.cfg, forward.instances, external is None, plans) if keep else None

    def plans_for(self, cfg, config: Config, inst: dict) -> dict | None:
        """The last walk's plans (forward.plan: what the walk needs of each
        node it visited), for a walk of the same CFG (the same object: the
        profiles of one check that build the same program, shared.py) under a
        configuration of the same key, and the same contracted instances: a
        plan reads the node's instruction and edges, whether it is in an
        instance, whether calls into other files' asm are followed, and the
        configuration's key (transfer.quiet; the signature's id in this
        memo's table).  A call or jump out of the program is planned again:
        its plan reads what the callee clobbers, or whether the other file
        defines it, as this configuration has them.  None: none to take;
        else a dict of the caller's own."""
        got = self.planned
        if got is None or self.key is None or config.key != self.key:
            return None
        old_cfg, old_inst, no_external, plans = got
        if old_cfg is not cfg or no_external != (config.external is None) or old_inst != inst:
            return None
        return {n: p for n, p in plans.items() if not (p[0].target is None and p[0].target_name)}

    def trim(self) -> None:
        """After a walk: what is over the limit is not kept."""
        if len(self.by_sig) > self.limit or len(self.alike) > self.limit:
            self.clear()


def transfer_config(program, exp=None, callees=None):
    """The transfer functions' knobs for this program: the memory model of
    its family, the per-cpu variables of the tree that hold the user CR3
    bits (``exp``: the expansion, for its tree and macros), and what calls
    out of the file clobber (``callees``: analysis.callees.Callees)."""
    from entrylint.analysis.state import Stack
    from entrylint.analysis.transfer import Config

    from entrylint.analysis.treefacts import user_bit_vars_of

    user_bit_vars = user_bit_vars_of(program, exp.root, exp.pp.macros) if exp is not None else frozenset()

    try:
        from entrylint.analysis.memory import model_of
    except ImportError:
        return Config()
    model = model_of(program)
    by_value = {s.value: s for s in Stack}

    def as_stack(lookup):
        """The memory model's answer (a StackKind) as the state's Stack, once
        per displacement text (the walk asks at every load it plans: a crypto
        file's unrolled rounds load from a few addresses thousands of times)."""
        memo: dict[str, Stack | None] = {}

        def get(text: str):
            got = memo.get(text, memo)
            if got is memo:
                kind = lookup(text)
                got = memo[text] = by_value.get(getattr(kind, "value", kind)) if kind is not None else None
            return got
        return get

    task, frame = frozenset(model.task_stack_returning), frozenset(model.user_frame_returning)
    return Config(stack_for_load=as_stack(model.stack_for_load), area_for_load=as_stack(model.area_for_load),
                  user_bit_vars=user_bit_vars,
                  task_stack_returning=task, user_frame_returning=frame,
                  key=(Config.user_bit, model, task, frame, user_bit_vars),
                  clobbers=(lambda name: callees(name).clobbers) if callees is not None else None)
