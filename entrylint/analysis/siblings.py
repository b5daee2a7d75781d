"""Asm helpers of another file of the same folder, followed through (MODEL 6.1:
stack-switching helpers are followed, not summarised as C functions).

4.14's entry_64_compat.S calls entry_64.S's ``switch_to_thread_stack``, which
switches GS, CR3 and the stack and returns on the task stack.  The caller's
walk asks ``summary(name, tuple)`` at such a call and goes on with the tuples
the helper returns with; the C calls the helper makes are judged at the
caller's call.  A jump there is asked the same (4.4's and 4.9's INT80 jump
to entry_64.S's ``restore_regs_and_iret`` on the user CR3 and GS): the exits
to user mode the other file's code reaches are judged at the jump.  The
other file comes from the shared expansion cache (``callees.expanded``).
"""

from __future__ import annotations

from pathlib import Path

from entrylint.source import overlay
from entrylint.source.tree import default_code_mode

# what a register may hold that means the same in another file's walk (not
# code addresses: those are instruction indices of one program)
_PORTABLE = ("cr3:", "gs:", "gsbase:", "int:", "stack:", "msr:")


def sibling_asm(exp, options, transfer_config):
    """callable(name, tuple) -> (the tuples at the ``ret`` of ``name``, the
    (C callee, tuple) of the C calls it makes, the (exit, tuple) of its
    exits to user mode), for a ``call`` or ``jmp`` to an asm function or
    label another ``.S`` file of the same folder defines (4.14:
    entry_64_compat.S calls entry_64.S's switch_to_thread_stack); None for
    any other name, and where the tuple is the kernel's own.  That file is expanded
    with the same options and walked from the function with the caller's
    tuple, once per (function, tuple) -- MODEL 6.1: stack-switching helpers
    are followed through, not summarised as C.  ``transfer_config(program)``:
    the transfer knobs the other file is walked with."""
    from entrylint import cache
    from entrylint.analysis.callees import options_key
    from entrylint.analysis.state import Space, Stack
    from entrylint.program.effects import Flow

    if exp.root is None or not overlay.is_file(exp.path):
        return None
    called = {i.target_name for i in exp.program.instructions
              if i.target is None and i.target_name and i.info is not None and i.info.flow in (Flow.CALL, Flow.JUMP)}
    here = exp.path.resolve()
    mode = default_code_mode(here)
    where: dict[str, Path] = {}
    for f in sorted(here.parent.glob("*.S")) if called else ():
        # (a sibling is itself only by its name, or as a link to it: its folder is resolved)
        if f == here or f.is_symlink() and f.resolve() == here or default_code_mode(f) != mode:
            continue
        names = _names_of(f)
        if names is None:
            continue
        for n in sorted(called & names):
            where.setdefault(n, f)
    if not where:
        return None
    memo: dict[tuple, frozenset | None] = {}

    def settled(t) -> bool:
        """Kernel GS, kernel page table (or PTI off), a kernel stack: a
        call from here gives this state back whether the callee is followed
        or taken for C, so the other file is not read for it."""
        return t.gs is Space.KERNEL and (t.cr3 is Space.KERNEL or t.pti_off()) \
            and t.stack not in (Stack.USER, Stack.ENTRY)

    rels: dict[Path, str] = {}

    def summary(name: str, t):
        f = where.get(name)
        if f is None or settled(t):
            return None
        t = _portable(t)
        if (name, t) in memo:
            return memo[(name, t)]
        rel = rels.get(f)
        if rel is None:
            try:
                rel = rels[f] = str(f.resolve().relative_to(exp.root.resolve()))
            except ValueError:  # a folder outside the tree (--root names another): its absolute path
                rel = rels[f] = str(f.resolve())
        if cache.facts_on():  # a fact of the tree: the other file is not expanded in a later run
            out = cache.fact(("sibling-walk", str(exp.root), rel, name, repr(options_key(options)), repr(t)),
                             _follow, exp.root, rel, name, t, options, transfer_config)
        else:  # (the key is not made: an editor's re-analysis, which keeps no facts)
            out = _follow(exp.root, rel, name, t, options, transfer_config)
        memo[(name, t)] = out
        return out

    return summary


# the names each sibling file defines, by the file as it was read: (mtime,
# size) on disk, or the text an overlay gives it.  Every file of a folder asks
# about the others, in every profile (arch/x86/crypto: 48 files, three
# profiles, 47 siblings each: 6.8k reads and scans of the same 48 texts)
_NAMES: dict[str, tuple[object, frozenset[str]]] = {}


def _names_of(f: Path) -> frozenset[str] | None:
    """defined_names() of sibling ``f`` (None: it cannot be read), worked out
    once per contents of the file."""
    from entrylint.analysis.asmindex import defined_names
    from entrylint.source.reader import depends_on, stamps

    key = str(f)
    ov = overlay.active()
    decided, text = ov.get(f) if ov is not None else (False, None)
    if decided:
        if text is None:
            return None
        stamp: object = ("overlay", text)
    else:
        stamp = stamps((key,))[0][1:]
        if stamp[0] is None:
            return None
    got = _NAMES.get(key)
    if got is not None and got[0] == stamp:
        if not decided:
            depends_on(key)  # (a result recorded now depends on the file, as if it had read it)
        return got[1]
    try:
        names = frozenset(defined_names(text if decided else overlay.read_text(f, errors="replace")))
    except OSError:
        return None
    if len(_NAMES) >= 4096:
        _NAMES.clear()
    _NAMES[key] = (stamp, names)
    return names


def _follow(root, rel: str, name: str, t, options, transfer_config):
    """The walk of ``name`` in the tree's file ``rel`` from ``t`` (a fact's
    computation: what it reads is what the fact depends on), once per
    expansion of that file (an editor's re-analysis walks it again only when
    the file was expanded again)."""
    from entrylint.analysis.callees import expanded

    program_cfg = expanded(root, rel, options)
    if program_cfg is None:
        return None
    walks, shared = _walks(program_cfg)
    if (name, t) not in walks:
        walks[(name, t)] = _walk_from(program_cfg, name, t, transfer_config, shared)
    return walks[(name, t)]


def _walk_from(program_cfg, name: str, t, transfer_config, shared=None):
    """(the tuples at the helper's ``ret``, its (C callee, tuple) calls, its
    (exit, tuple) exits to user mode) for a walk of ``name`` in
    ``program_cfg`` from ``t``; None when the program does not hold ``name``.
    ``shared``: what the walks of that program share, (a walking.StepMemo of
    their steps and plans, its contracted macro instances) -- a helper
    called from 18 places of 6.12's entry_64.S, entry_ibpb, is walked from
    as many tuples, most of its steps on tuples an earlier walk met."""
    from entrylint.analysis.entries import Entry, EntryKind
    from entrylint.analysis.forward import analyze as walk

    sub, cfg = program_cfg
    sym = sub.symbols.get(name)
    node = cfg.entry(sym.start) if sym is not None and sym.start < len(sub.instructions) else None
    if node is None:
        return None
    config = transfer_config(sub)
    memo, inst = shared if shared is not None else (None, None)
    plans = memo.plans_for(cfg, config, inst) if memo is not None else None
    fw = walk(sub, cfg, [Entry(name, node, EntryKind("called-from-asm", frozenset({t})))], config, memo=memo,
              instances=inst, plans=plans)
    # C calls the helper makes, and its exits to user mode (told apart by the
    # exit's instruction and line), are judged at the caller's call or jump
    exits = frozenset((_where(sub.instructions[ev.node]), _portable(ev.before)) for ev in fw.event_list("exit-user"))
    return (frozenset(_portable(ev.before) for ev in fw.event_list("ret")),
            frozenset((ev.detail, _portable(ev.before)) for ev in fw.event_list("c-call")), exits)


def _where(ins) -> str:
    """An exit instruction of another file, as a finding at the caller names it."""
    return f"{ins.canonical or ins.mnemonic} ({ins.location.short()})"


def _portable(t):
    """``t`` with only what means the same in another file's walk."""
    return t.with_(held=tuple(kv for kv in t.held if kv[1].startswith(_PORTABLE)))


# the walks of the other files' helpers, by the expansion they walked (the
# process-wide one of callees.expanded, held here so its id is not reused),
# and the steps those walks share: a re-analysis of the file being edited
# walks them again only when that expansion was read again
_WALKS: dict[int, tuple[object, dict, tuple]] = {}


def _walks(program_cfg) -> tuple[dict, tuple]:
    """(the walks made of ``program_cfg``'s helpers, what they share: their
    StepMemo and the program's contracted macro instances, made once)."""
    from entrylint.analysis.contracts import contract_instances
    from entrylint.analysis.walking import StepMemo

    got = _WALKS.get(id(program_cfg))
    if got is None or got[0] is not program_cfg:
        if len(_WALKS) >= 16:
            _WALKS.pop(next(iter(_WALKS)))
        got = _WALKS[id(program_cfg)] = (program_cfg, {},
                                         (StepMemo(keep_walk=False), contract_instances(*program_cfg)))
    return got[1], got[2]
