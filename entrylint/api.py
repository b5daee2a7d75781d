"""Run the stages in order (STYLE: the one place that knows the pipeline).

    source -> cpp.preprocess -> gas.expand -> program.build (+ decode, layout)

Each stage returns data and problems; problems become EL9xx findings here.
Nothing in this module prints.
"""

from __future__ import annotations

import os
from dataclasses import field, replace
from pathlib import Path

from entrylint.findings.frontend import capped, from_problem
from entrylint.findings.model import Finding
from entrylint.source import Location, Problem, ProblemKind, overlay
from entrylint.source.location import dedupe
from entrylint.source.limits import DEFAULT as DEFAULT_LIMITS, Limits, hit, together
from entrylint.source.reader import read_source
from entrylint.analysis.walking import transfer_config
from entrylint.source.record import data
from entrylint.source.tree import (build_flavour, default_code_mode, find_root, generated_problem,
                                   is_linker_script, kernel_include_search)

DEFAULT_PROFILE = "defconfig"  # one profile, where one must be chosen (expand, explain)
# What a check judges when no profile, .config or build folder is named: every
# built-in profile (MODEL 6), each finding once with the profiles it holds under.
ALL_PROFILES = ("max", "defconfig", "pti-off")


@data
class Options:
    """What a user can set about reading a file (CLI flags, config files)."""

    root: Path | None = None  # kernel tree; None: search upward from the file
    build: Path | None = None  # an O= build folder: generated headers and its .config
    include: tuple[Path, ...] = ()  # -I
    defines: dict[str, str | None] = field(default_factory=dict)  # -D NAME[=VAL]
    undefines: tuple[str, ...] = ()  # -U
    config: Path | None = None  # a kernel .config
    profile: str | None = None  # built-in profile (max, defconfig, pti-off)
    assemble: bool = True  # decode with GNU as + iced-x86
    layout: bool = False  # assemble the whole expansion for offsets and sizes
    bits: int | None = None  # code mode a file starts in (None: 32 for 32-bit-only files, else 64)
    limits: Limits = DEFAULT_LIMITS  # --limit NAME=N (source/limits.py)

    def profiles(self) -> tuple[str | None, ...]:
        """The configurations a check judges: the one named (``--profile``,
        ``--config``, a build's .config), else every built-in profile."""
        if self.profile is not None or self.config is not None or (
                self.build is not None and (self.build / ".config").is_file()):
            return (self.profile,)
        return ALL_PROFILES

    def profile_name(self) -> str:
        if self.config is not None:
            return self.config.name if self.config.name != ".config" else str(self.config)
        if self.profile is None and self.build is not None:
            return str(self.build / ".config")
        return self.profile or DEFAULT_PROFILE


@data
class Expansion:
    path: Path
    root: Path | None
    profile: str
    pp: object  # cpp.PPResult
    gas: object  # gas.GasResult
    program: object  # program.model.Program
    problems: list[Problem]
    findings: list[Finding]
    text: str = ""  # the source that was analysed (a buffer may differ from the disk)
    cpp: object = None  # cpp.CppOptions the file was preprocessed with
    _compiled_out: dict = field(default_factory=dict, repr=False)

    def compiled_out(self, off: tuple[str, ...]) -> frozenset[str]:
        """The CPU features the tree's own ``DISABLED_MASKn`` compiles out in
        this configuration with the options ``off`` (``CONFIG_...``) unset
        (MODEL 6.1): with none of them set, the masks as read; else the header
        that defines the masks is read again without them.  A 6.15+ tree
        writes the masks from its Kconfig.cpufeatures at build time: they are
        worked out from it (kconfig_deps.disabled_by_kconfig).  Empty for a
        tree that defines no mask (no table stands in for the tree here)."""
        key = tuple(sorted(off))
        got = self._compiled_out.get(key)
        if got is None:
            got = self._compiled_out[key] = frozenset(self._masks_without(key))
        return got

    def _masks_without(self, off: tuple[str, ...]) -> set[str]:
        from entrylint.program.constants import disabled_features

        macros = self.pp.macros
        features = self.program.features
        kconfig = getattr(self.cpp, "kconfig", None)
        if kconfig is not None:
            from entrylint.cpp.kconfig_deps import disabled_by_kconfig

            got = disabled_by_kconfig(self.root, kconfig.with_overrides({o: None for o in off}).enabled)
            if got is not None:
                return got
        if kconfig is None or not any(kconfig.enabled(o) for o in off):
            return disabled_features(macros, features)
        defn = macros.get("DISABLED_MASK0")
        if defn is None:
            return set()
        from dataclasses import replace

        from entrylint.cpp import preprocess_file

        opts = replace(self.cpp, kconfig=kconfig.with_overrides({o: None for o in off}))
        try:
            header = preprocess_file(defn.location.file, opts)
        except OSError:
            return set()
        return disabled_features({**macros, **header.macros}, features)


_decoder = None


def decoder():
    """The process-wide decoder (its cache is shared by every file checked)."""
    global _decoder
    if _decoder is None:
        from entrylint.program.decode import Decoder

        _decoder = Decoder()
    return _decoder


def kconfig_for(options: Options):
    from entrylint.cpp.config import Kconfig

    if options.config is not None:
        return Kconfig.from_dotconfig(options.config)
    if options.profile is None and options.build is not None and (options.build / ".config").is_file():
        return Kconfig.from_dotconfig(options.build / ".config")
    return Kconfig.from_profile(options.profile or DEFAULT_PROFILE)


# gcc -m32 (and -m16) predefine these instead of the x86-64 ones
_M32_UNDEF = ("__x86_64__", "__x86_64", "__LP64__", "_LP64", "__amd64__", "__amd64")
_M32_DEFS = {"__i386__": "1", "__i386": "1", "i386": "1", "__ILP32__": "1", "_ILP32": "1",
             "__SIZEOF_LONG__": "4", "__SIZEOF_POINTER__": "4", "__SIZEOF_SIZE_T__": "4",
             "__SIZEOF_LONG_DOUBLE__": "12"}


def cpp_options(path: Path, options: Options, root: Path | None):
    from entrylint.cpp import CppOptions

    search = kernel_include_search(root, options.build, tuple(options.include), for_file=path)
    kconfig = kconfig_for(options)
    defines: dict[str, str | None] = {}
    undefines: tuple[str, ...] = ()
    flavour = build_flavour(path) if options.bits is None else None
    if flavour is not None and flavour.m32:
        defines.update(_M32_DEFS)
        undefines = _M32_UNDEF
        if flavour.kernel32 and not kconfig.enabled("CONFIG_X86_32"):
            # a 64-bit configuration (a built-in profile, an x86_64 .config):
            # what a 32-bit build of it would have; a 32-bit .config stays as it is
            from entrylint.cpp.config import as_x86_32

            kconfig = as_x86_32(kconfig, root)
    defines.update(options.defines)
    return CppOptions(search=search, kconfig=kconfig, defines=defines,
                      undefines=undefines + tuple(options.undefines), limits=options.limits)


def resolve_root(path: Path, options: Options) -> Path | None:
    if options.root is not None:
        return options.root.resolve()
    return find_root(path)


def expand(path: Path | str, options: Options | None = None, text: str | None = None,
           incremental=None, shared=None, before_build=None) -> Expansion:
    """Preprocess, macro-expand and build the program of one ``.S`` file.

    ``text`` replaces the file's contents (editor buffers, stdin, patches).
    ``incremental``: an ``incremental.Sessions``, which reads an edited text
    from where the edit starts (the language server), with the same result.
    ``shared``: a ``shared.Shared`` of the check's earlier profiles, whose
    program is taken when this profile would build the same one.
    ``before_build(root, statements, cpp macros)``: called once GNU as has
    made the statements, before the program is made of them."""
    from entrylint.cpp import preprocess_text
    from entrylint.gas import GasOptions
    from entrylint.program.build import build_program

    options = options or Options()
    path = Path(path)
    root = resolve_root(path, options)
    problems: list[Problem] = []
    try:
        copts = cpp_options(path, options, root)
    except (OSError, ValueError) as e:
        raise UsageError(str(e)) from e
    if text is None:
        text, problem = read_source(path, options.limits)
        if problem is not None:
            problems.append(problem)
    pp_name = str(path.resolve() if path.exists() else path)
    if shared is not None:  # cpp-lines bounds the check: the lines its earlier profiles read count;
        # and the profiles share the expansion of a line whose macros mean the same to them
        copts = replace(copts, spent=shared.cpp_lines, share_lines=True)
    if incremental is not None and not is_linker_script(path):
        # the same budgets as a run from the start: what the earlier profiles spent
        pp, gas = incremental.expand(path, options, text, pp_name, copts,
                                     GasOptions(limits=options.limits, spent=_gas_spent(shared)))
        if shared is not None and shared.gas is not None and shared.lines == pp.lines:
            gas = shared.gas  # the last profile's lines: its expansion, spent once (as _expand_shared)
    else:
        pp = preprocess_text(text, pp_name, copts)
        # a linker script is only preprocessed: there is no assembly in it
        gas = _expand_shared(pp_name, [] if is_linker_script(path) else pp.lines, options.limits, shared)
    if shared is not None:
        shared.cpp_lines = pp.peak["cpp-lines"]
        shared.lines = pp.lines
    problems += [generated_problem(p) for p in pp.problems]
    from entrylint.gas.conditionals import unknown_generated

    problems += unknown_generated(_gas_problems(gas), problems)
    dec = None
    if options.assemble:
        dec = decoder()
        if not dec.available:
            problems.append(Problem(ProblemKind.NO_ASSEMBLER,
                                    "GNU as not found: register and flag effects are unknown "
                                    "(install binutils)", Location(str(path), 1, 1)))
            dec = None
    from entrylint.program.paravirt import native_reader

    if before_build is not None:
        before_build(root, gas.statements, pp.macros)
    mode = options.bits or default_code_mode(path)
    layout = bool(options.layout and dec is not None)
    kept = shared.program_for(gas, pp.macros, dec, mode, layout) if shared is not None else None
    if kept is not None:
        program, pproblems = kept
    else:
        read = native_reader(pp_name, text, copts, pp.macros)
        sites: list = []

        def native(s):
            sites.extend(s)
            return read(s)

        def build():
            return build_program(gas.statements, pp.macros, gas.symbols, dec, mode=mode, native=native)

        if incremental is not None and not layout:  # an edit's program: the last one's, where it allows
            program, pproblems = incremental.program(path, options, gas.statements, pp.macros, gas.symbols, dec,
                                                     mode, build)
        else:
            program, pproblems = build()
        if layout:
            from entrylint.program.layout import apply_layout

            pproblems += apply_layout(program, dec)
        if shared is not None:
            shared.keep_program(gas, pp.macros, dec, mode, layout, program, pproblems, bool(sites))
    problems += pproblems
    if copts.kconfig is not None:
        from entrylint.program.constants import features_without_config
        from entrylint.source.tree import kconfig_declares

        program.disabled |= features_without_config(copts.kconfig.enabled, kconfig_declares(root),
                                                    any(getattr(i.info, "cr3_write", False)
                                                        for i in program.instructions))
        from entrylint.cpp.kconfig_deps import disabled_by_kconfig

        # (6.15+: the masks the build writes from Kconfig.cpufeatures)
        program.disabled |= disabled_by_kconfig(root, copts.kconfig.enabled) or set()
    profile = options.profile_name()
    findings = sorted((from_problem(p, (profile,)) for p in capped(dedupe(problems), options.limits)),
                      key=Finding.sort_key)
    return Expansion(path=path, root=root, profile=profile, pp=pp, gas=gas, program=program,
                     problems=problems, findings=findings, text=text, cpp=copts)


# the last GNU as expansion made: (file, its cpp lines, limits, what the
# check had spent before it, result).  The profiles of one check give a file
# whose cpp output does not depend on them (crypto and library code, a macro
# program without #if) the same lines, and GNU as's expansion is a function
# of the lines, the limits and that budget alone (its result is only read
# after), so it is made once, not once per profile
_gas_last: tuple | None = None


def _expand_shared(name: str, lines, limits, shared=None):
    """GNU as's expansion of ``lines``.  Under a check of several profiles
    (``shared``), an expansion of other lines than the last one's reads on
    the budget the earlier ones left: expansion-statements and
    program-instructions bound the check, whose profiles can each read
    other lines (an ``#ifdef CONFIG_...`` at the top of a file at the
    limits made the check cost twice the bound)."""
    from entrylint.gas import GasOptions, expand as gas_expand

    global _gas_last
    # the check's earlier expansion (Shared.gas, the last profile's) counted from
    # the budget before it: what it read is what the check has spent
    prev = shared.gas if shared is not None else None
    spent = _gas_spent(shared)
    if _gas_last is not None and _gas_last[0] == name and _gas_last[2] == limits \
            and (_gas_last[3] == spent or _gas_last[4] is prev) and _gas_last[1] == lines:
        return _gas_last[4]
    got = gas_expand(lines, GasOptions(limits=limits, spent=spent))
    _gas_last = (name, list(lines), limits, spent, got)
    return got


def _gas_spent(shared) -> tuple[int, int]:
    """(expansion-statements, program-instructions) the check's earlier
    profiles spent: its last expansion counted from the budget before it."""
    prev = shared.gas if shared is not None else None
    return (prev.peak["expansion-statements"], prev.peak["program-instructions"]) if prev is not None else (0, 0)


_gas_deduped: tuple | None = None  # (GNU as expansion, its problems each once)


def _gas_problems(gas) -> list[Problem]:
    """``dedupe(gas.problems)``, made once for the profiles that share the
    expansion (a recursive macro program can repeat one problem 100k times)."""
    global _gas_deduped
    if _gas_deduped is None or _gas_deduped[0] is not gas:
        _gas_deduped = (gas, dedupe(gas.problems))
    return _gas_deduped[1]


def _disk_text(path: Path) -> str | None:
    try:
        return overlay.read_text(path)
    except (OSError, ValueError):
        return None


class UsageError(Exception):
    """Bad options or arguments: the CLI prints one line and exits 2."""


@data
class Analysis:
    """Everything the rules read about one file (MODEL 2.6)."""

    expansion: Expansion
    cfg: object  # analysis.cfg.CFG
    entries: list  # analysis.entries.Entry
    forward: object  # analysis.walked.Forward
    liveness: object | None = None  # analysis.liveness.Liveness
    flags: object | None = None  # analysis.flags.FlagReach
    procedures: object | None = None  # analysis.liveness.Procedures: the call structure
    user_mapped: frozenset = frozenset()  # per-cpu names the tree declares user-mapped (MODEL 5)
    callees: object | None = None  # analysis.callees.Callees: what a call out of the file reads and clobbers
    # what rules work out once per analysis, by name (plugins/support.py node_table)
    memo: dict = field(default_factory=dict, repr=False)
    # the memo of the last analysis of the file, whose program this one's was
    # made from (program.patched_from); None: nothing carried
    carried: dict | None = field(default=None, repr=False)
    # the next analysis of the file may take this one's memo (an incremental
    # session's): what rules work out is kept in it, else it is let go as before
    carries: bool = False

    @property
    def program(self):
        return self.expansion.program


def analyze(path: Path | str, options: Options | None = None, text: str | None = None,
            incremental=None, shared=None, spare_core: bool = False) -> Analysis:
    """Expand a file, then build the CFG, find entry points and walk every path.

    The order matters: the CFG needs the decoder's flow (expand), entries
    need the CFG's fork nodes, liveness needs the CFG and the entries' code.
    ``spare_core``: a core is idle (the CLI checking one file under one
    profile): what the liveness asks of the tree's C code is begun in a
    process apart (callees.ask_apart)."""
    from entrylint.analysis.cfg import CFG
    from entrylint.analysis.entries import find_entries, label_macros
    from entrylint.analysis.flags import compute_flags
    from entrylint.analysis.liveness import Procedures, compute_liveness
    from entrylint.analysis.msr_entries import msr_entries
    from entrylint.analysis.task_gates import task_gates
    from entrylint.analysis.carry import Carried, last_analysis, moved_analysis
    from entrylint.analysis.walking import walk

    from entrylint.analysis.callees import Callees, static_call_prefix
    from entrylint.shared import LoggedCallees

    before_build = None
    if spare_core:  # the C answers begun apart before the build, the build here meanwhile
        from entrylint.analysis.callees import ask_before_build as before_build
    exp = expand(path, options, text, incremental, shared, before_build)
    program = exp.program
    callees = Callees(exp.root, options, build_flavour(Path(path)).kernel32,
                      static_prefix=static_call_prefix(exp.pp.macros))
    if spare_core:
        from entrylint.analysis.callees import ask_apart

        ask_apart(callees, program, Path(path))
    kept = shared.analysis_for(program, callees) if shared is not None else None
    session = incremental.session(path, options)[0] if incremental is not None else None
    # the steps and plans of the file's earlier walks: its last edit's (the
    # language server), or the check's earlier profiles'
    memo = session.step_memo() if session is not None else shared.step_memo() if shared is not None else None
    last = last_analysis(session, program) if kept is None else None  # (analysis/carry.py)
    moved = moved_analysis(session, program) if kept is None and last is None else None
    msr = msr_entries(exp.root)
    labels, kinds = shared.entry_facts(program) if shared is not None else (None, None)
    if kept is not None:
        cfg, procedures, liveness, flags = kept
    elif last is not None:  # its nodes and edges, its call structure, its entry points
        cfg, procedures, liveness, flags = last.cfg.rebased(program), last.procedures, None, None
        if shared is None:
            labels, kinds = last.entry_facts_for(msr)
    else:
        cfg = CFG(program)
        # the call structure (which calls reach which asm functions, where each
        # returns) is built once and shared by liveness, flags, the walk and the rules
        procedures = Procedures.build(program, cfg)
        liveness = flags = None
    if session is not None and labels is None:  # (kept for the next edit's analysis)
        labels, kinds = label_macros(program), {}
    entries = find_entries(program, cfg, msr=msr, labels=labels, kinds=kinds,
                           tasks=lambda: task_gates(exp.root))
    from entrylint.analysis.callees import remember
    from entrylint.analysis.siblings import sibling_asm

    remember(exp.root, Path(path), options, program, cfg, text is not None and text != _disk_text(Path(path)))
    # (before the liveness: it asks the callees, whose C answers may still be
    # on their way from a process apart; neither of these asks them)
    if flags is None:
        flags = compute_flags(program, cfg, [e.node for e in entries if not cfg.is_fork(e.node)],
                              procedures=procedures, carried=last.flags if last is not None else None,
                              keep=session is not None)
    external = sibling_asm(exp, options, transfer_config)
    if liveness is None:  # the callees it asks about, logged only for later profiles to compare
        asked = LoggedCallees(callees) if shared is not None else callees
        liveness = compute_liveness(program, cfg, procedures=procedures, callees=asked,
                                    carried=(last or moved).liveness if (last or moved) is not None else None,
                                    keep=session is not None)
    config = replace(transfer_config(program, exp, callees), external=external)
    forward, spent = walk(program, cfg, entries, config, liveness.live_out,
                          (options or Options()).limits, shared, memo)
    if forward.truncated:
        lim = (options or Options()).limits
        node = forward.truncated_at
        if node is not None and cfg.is_fork(node):
            node = None
        where = (program.instructions[node].stmt.location if node is not None and node < len(program.instructions)
                 else Location(str(Path(path).resolve()), 1, 1))
        exp.findings = sorted([*exp.findings, from_problem(Problem(
            ProblemKind.LIMIT, hit(lim, forward.truncated_by, "the walk of the entry paths was cut short"
                                   + together(spent) + ": findings past this point may be missing"),
            where), (exp.profile,))], key=Finding.sort_key)
    if shared is not None and kept is None:
        shared.keep_analysis(program, cfg, procedures, liveness, flags, asked.log)
    from entrylint.analysis.treefacts import user_mapped_percpu

    an = Analysis(exp, cfg, entries, forward, liveness, flags, procedures, user_mapped_percpu(exp.root),
                  callees, carried=last.memo if last is not None else None, carries=session is not None)
    if session is not None:
        session.analysis = Carried(program.token, cfg, procedures, liveness, flags, an.memo, (labels, kinds, msr))
    return an


_rules = None


def rules(extra: tuple = ()):
    """The loaded rule plugins (built-in and third-party, by entry point)."""
    global _rules
    from entrylint.plugins.manager import Rules

    if extra:
        return Rules(extra=extra)
    if _rules is None:
        _rules = Rules()
    return _rules


@data
class CheckResult:
    path: Path
    findings: list[Finding]
    analysis: Analysis | None
    root: Path | None = None  # the tree root the file was read in
    text: str | None = None  # the file's text as read


def check(path: Path | str, options: Options | None = None, select=None, ignore=(),
          text: str | None = None, rule_set=None, rule_options: dict | None = None,
          incremental=None, keep_analysis: bool = True, jobs: int = 1, spare_core: bool = False) -> CheckResult:
    """Check one file under every configuration ``options`` names (MODEL 6: by
    default every built-in profile) and report each finding once, with the
    profiles it holds under.  The analysis kept is the first profile's;
    ``keep_analysis=False`` (the CLI) keeps none, so that one profile's
    analysis at a time is in memory (a large program's is hundreds of MB).
    ``jobs`` > 1 with no analysis kept: the later half of the profiles is
    checked in a process apart meanwhile (apart.py), its findings merged in
    profile order, as one process would have made them; with one profile,
    part of its analysis is (analyze's ``spare_core``), as with
    ``spare_core`` (the language server's first analysis of a tree)."""
    options = options or Options()
    if incremental is not None:  # (what the check replaces of the last one's: freed later)
        incremental.hold()
    if text is None and overlay.is_file(path):
        # read once: every profile judges the same bytes
        text, problem = read_source(Path(path), options.limits)
        if problem is not None:
            text = None  # expand reads it again and says why
    merged: dict[tuple, Finding] = {}
    first = None
    profiles = options.profiles()
    from entrylint.cpp import conditionals
    from entrylint.cpp.lexer import checking

    checking(os.path.abspath(path))  # (an earlier check's files are not kept lexed past it)
    conditionals.trim()  # (nor, past a bound, the #if records of earlier checks)

    from entrylint import apart
    from entrylint.findings.group import fold_profiles, merge_profile

    later = profiles[len(profiles) // 2:] if jobs > 1 and len(profiles) > 1 and not keep_analysis \
        and incremental is None else ()
    child = apart.start(_found_under, path, options, later, select, ignore, text, rule_set, rule_options) \
        if later else None
    mine = profiles[:len(profiles) - len(later)] if child is not None else profiles
    # one profile, none apart: a core to spare for the analysis's own work (the CLI's -j with one file)
    cli = jobs > 1 and not keep_analysis and incremental is None
    spare = child is None and len(mine) == 1 and (spare_core or cli)
    from entrylint import ahead

    try:
        if spare:  # the tree's facts every file asks for, made meanwhile (ahead.py)
            ahead.begin(resolve_root(Path(path), options), Path(path))
        for res in _each_profile(path, options, mine, select, ignore, text, rule_set, rule_options, incremental,
                                 spare):
            an = res.analysis
            if first is None:
                first = CheckResult(res.path, [], an if keep_analysis else None, an.expansion.root if an else None,
                                    an.expansion.text if an else None)
            # the analysis is dropped before the next profile makes its own (the
            # CLI keeps none): it holds no reference cycles, so it goes now, by
            # its reference counts; a full collection here found nothing to free
            # and cost 0.4 s of a file at the limits (tests/test_shared_profiles.py)
            merge_profile(merged, res.findings)
            del res, an
    except BaseException:
        apart.abandon(child)
        raise
    finally:
        ahead.end()
    if child is not None:
        theirs = apart.result(child)
        for found in theirs if theirs is not None else _found_under(path, options, later, select, ignore, text,
                                                                      rule_set, rule_options):
            merge_profile(merged, found)
    found = fold_profiles(sorted(merged.values(), key=Finding.sort_key))
    return CheckResult(Path(path), found, first.analysis, first.root, first.text)


def _each_profile(path, options: Options, profiles, select, ignore, text, rule_set, rule_options,
                  incremental=None, spare_core: bool = False):
    """check_one of ``path`` under each of ``profiles`` in turn, the profiles
    sharing what the configuration cannot reach (shared.py).  A result is
    let go here before the next profile makes its own."""
    from dataclasses import replace

    from entrylint import heap
    from entrylint.shared import Shared

    shared = Shared() if len(profiles) > 1 else None
    for prof in profiles:
        with heap.gc_paused():
            res = check_one(path, replace(options, profile=prof), select, ignore, text, rule_set, rule_options,
                            incremental, shared, spare_core)
        yield res
        del res


def _found_under(path, options: Options, profiles, select, ignore, text, rule_set, rule_options) -> list[list]:
    """The findings of ``path`` under each of ``profiles`` (check's later
    half, in a process apart), a list per profile."""
    return [res.findings for res in _each_profile(path, options, profiles, select, ignore, text, rule_set,
                                                   rule_options)]


def check_one(path: Path | str, options: Options | None = None, select=None, ignore=(),
              text: str | None = None, rule_set=None, rule_options: dict | None = None,
              incremental=None, shared=None, spare_core: bool = False) -> CheckResult:
    """Analyse one file under one configuration and run the enabled rules:
    front-end findings (EL9xx) plus every rule finding, sorted, each
    fingerprint once (``spare_core``: analyze's)."""
    from entrylint import apart
    from entrylint.plugins.info import RuleConfig

    # with a process apart to wait for (spare_core: the C answers), the rules
    # are loaded in that wait if it comes (none named: none can be unknown);
    # else first, so that a rule named that is none is said before the analysis
    enabled = None
    if spare_core and rule_set is None and _rules is None and not select and not ignore:
        apart.meanwhile(rules)
    else:
        rs = rule_set or rules()
        enabled = set(rs.resolve(select)) if select else set(rs.info)
        enabled -= rs.resolve(ignore) if ignore else set()
    an = analyze(path, options, text, incremental, shared, spare_core)
    rs = rule_set or rules()
    cfg = RuleConfig(enabled=frozenset(enabled if enabled is not None else rs.info), options=dict(rule_options or {}),
                     profile=an.expansion.profile)
    from entrylint.findings.group import group_expansions, group_inherited

    ruled = rs.check(an, cfg, (options or Options()).limits)
    if not an.carries:  # what the rules shared (plugins/support.py node_table): no later analysis takes it
        an.memo.clear()
    found = list(an.expansion.findings) + group_inherited(group_expansions(ruled, an.program), an.forward)
    seen, out = set(), []
    for f in sorted(found, key=Finding.sort_key):
        key = (f.id, f.fingerprint, f.location)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return CheckResult(Path(path), out, an)
