"""The forward walk as a check runs it (api.analyze): the transfer
functions' knobs read from the program and its tree, and the walk on what
is left of the check's analysis-visits and analysis-steps budgets (source/limits.py: the
profiles of one check share it, as they share the expansion budgets; each
profile walks its own tuples, which carry the features it compiles out)."""

from __future__ import annotations


def walk(program, cfg, entries, config, live_out, limits, shared=None, memo=None):
    """The forward walk on what is left of the check's analysis-visits and
    analysis-steps budgets (``limits``; ``shared``: the check's Shared, None
    for a lone profile), and whether the check's earlier walks had spent
    any of them.  ``memo``: the steps of the file's earlier walks
    (forward.StepMemo, kept by the incremental session of an edited file)."""
    from entrylint.analysis.forward import analyze

    visits, steps = (shared.visits, shared.steps) if shared is not None else (0, 0)
    forward = analyze(program, cfg, entries, config, max_visits=limits.analysis_visits - visits,
                      live_out=live_out, max_steps=limits.analysis_steps - steps, memo=memo)
    if shared is not None:
        shared.visits += forward.visits
        shared.steps += forward.steps
    return forward, bool(visits or steps)


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

    def stack_for_load(text: str):
        kind = model.stack_for_load(text)
        return by_value.get(getattr(kind, "value", kind)) if kind is not None else None

    task, frame = frozenset(model.task_stack_returning), frozenset(model.user_frame_returning)
    return Config(stack_for_load=stack_for_load, user_bit_vars=user_bit_vars,
                  task_stack_returning=task, user_frame_returning=frame,
                  key=(Config.user_bit, model, task, frame, user_bit_vars),
                  clobbers=(lambda name: callees(name).clobbers) if callees is not None else None)
