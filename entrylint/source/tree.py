"""The kernel tree a file belongs to, and the include search it implies.

The include paths are the ones kbuild gives an x86 ``.S`` file (LINUXINCLUDE
and USERINCLUDE of the top-level Makefile), with an optional build folder
(``make O=DIR``) whose generated headers come right after each source folder,
as in an out-of-tree build.
"""

from __future__ import annotations

import os
import re
from dataclasses import field
from pathlib import Path

from entrylint.source import overlay, textscan
from entrylint.source.location import Problem, ProblemKind
from entrylint.source.record import data


def looks_like_kernel_root(d: Path) -> bool:
    return (d / "arch" / "x86").is_dir() and (d / "include" / "linux").is_dir() and (d / "Kconfig").is_file()


def find_root(start: Path) -> Path | None:
    """Search upward from ``start`` (a file or folder) for a kernel tree."""
    d = start.resolve()
    if d.is_file() or not d.exists():
        d = d.parent
    for cand in (d, *d.parents):
        if looks_like_kernel_root(cand):
            return cand
    return None


@data(frozen=True)
class IncludeSearch:
    """Where ``#include`` looks.  ``quote_dirs`` are searched (after the
    including file's own folder) for ``"file"``, then ``dirs`` for both forms;
    ``implicit`` are the ``-include`` files read before the main file.
    ``generic_fallback`` maps a missing ``asm/X.h`` to ``asm-generic/X.h`` the
    way kbuild's generated mandatory-y wrappers do."""

    dirs: tuple[Path, ...] = ()
    quote_dirs: tuple[Path, ...] = ()
    implicit: tuple[Path, ...] = ()
    generic_fallback: bool = False
    generated: tuple[str, ...] = field(default=())  # header names only a build generates


# Headers that only a kernel build writes (scripts, Kbuild rules).  A missing one
# is still reported, but classified as "needs a build", not as a tree problem.
GENERATED_PREFIXES = (
    "generated/",
    "asm/asm-offsets.h",
    "asm/unistd_",
    "asm/syscalls_",
    "asm/cpufeaturemasks.h",
    "asm/orc_hash.h",
    "asm/xen-hypercalls.h",
    "uapi/asm/unistd_",
    "asm/vdso-image",
    "linux/version.h",  # include/generated/uapi/linux/version.h
    "kvm-asm-offsets.h",  # arch/x86/kvm/kvm-asm-offsets.h, made from kvm-asm-offsets.c
    "asm/machine-types.h",
    "voffset.h",  # arch/x86/boot/voffset.h, from nm of vmlinux
    "zoffset.h",  # arch/x86/boot/zoffset.h, from nm of the compressed kernel
    "pasyms.h",  # arch/x86/realmode/rm/pasyms.h, from nm of the real-mode blob
)


def is_generated_header(name: str) -> bool:
    # (and any *asm-offsets.h: kbuild makes each from its .c file, 7.x's
    # hyperv/mshv-asm-offsets.h too)
    return name.startswith(GENERATED_PREFIXES) or name.endswith("asm-offsets.h")


def generated_problem(p: Problem) -> Problem:
    """A missing header that only a kernel build writes is not a fault of the tree."""
    if p.kind is ProblemKind.MISSING_INCLUDE:
        name = p.message.split(":", 1)[0].strip()
        if is_generated_header(name):
            return Problem(ProblemKind.GENERATED_HEADER,
                           f"{name} is written by a kernel build: its definitions are unknown "
                           f"(give an O= build folder with --build DIR)", p.location, p.trace)
    return p


def kernel_include_search(root: Path | None, build: Path | None = None,
                          extra: tuple[Path, ...] = (), arch: str = "x86",
                          for_file: Path | None = None) -> IncludeSearch:
    """The include search of a kbuild ``.S`` compile in ``root`` (optionally
    with generated headers from ``build``); ``extra`` are ``-I`` folders, searched first.
    A file under arch/x86/um belongs to user-mode Linux (ARCH=um, SUBARCH=x86)."""
    dirs: list[Path] = list(extra)
    implicit: list[Path] = []
    if root is not None and for_file is not None and arch == "x86":
        try:
            if for_file.resolve().relative_to(root.resolve()).as_posix().startswith("arch/x86/um/"):
                arch = "um"
        except ValueError:
            pass
    if root is not None and arch == "um":
        obj = build or root
        # arch/um/Makefile: ARCH_INCLUDE, then the host (x86) folders
        dirs += [root / "arch" / "um" / "include", obj / "arch" / "um" / "include" / "generated",
                 root / "arch" / "um" / "include" / "shared", root / "arch" / "x86" / "um" / "shared",
                 root / "arch" / "um" / "include" / "shared" / "skas", root / "arch" / "x86" / "um"]
        arch = "x86"
    if root is not None:
        obj = build or root
        dirs += [
            root / "arch" / arch / "include",
            obj / "arch" / arch / "include" / "generated",
            root / "include",
            obj / "include",
            root / "arch" / arch / "include" / "uapi",
            obj / "arch" / arch / "include" / "generated" / "uapi",
            root / "include" / "uapi",
            obj / "include" / "generated" / "uapi",
        ]
        if for_file is not None:  # the folder's own -I flags, after the kernel's (kbuild's order)
            dirs += makefile_include_dirs(os.path.abspath(root), os.path.dirname(os.path.abspath(for_file)))
        for name in ("compiler-version.h", "kconfig.h"):
            p = root / "include" / "linux" / name
            if p.is_file():
                implicit.append(p)
    seen: set[Path] = set()
    uniq = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            uniq.append(d)
    return IncludeSearch(dirs=tuple(uniq), implicit=tuple(implicit), generic_fallback=root is not None)


_MAKE_INCLUDE = re.compile(r"^\s*-?include\s+(\S+)\s*$", re.M)
_MAKE_I = re.compile(r"(?<![\w-])-I\s*(\S+)")


@overlay.tree_cache(maxsize=64)
def makefile_include_dirs(root: str, folder: str) -> list[Path]:
    """The ``-I`` folders the kbuild Makefile of ``folder`` (and the files it
    ``include``s) gives the compiler, that exist: 7.x's vDSO reads
    ``common/note.S`` and ``extable.h`` through ``flags-y += -I$(src)/..``
    of vdso/common/Makefile.include.  A folder without a Makefile is built
    by the nearest one above it (arch/x86/kvm/Makefile builds
    ``svm/vmenter.o``, with ``-I $(srctree)/arch/x86/kvm``).  ``$(src)`` and
    ``$(obj)`` are the Makefile's folder, ``$(srctree)`` and ``$(objtree)``
    the root; a relative folder is the root's (kbuild compiles from there).
    Which variable a flag is added to is not read (a folder's ``-I`` flags
    serve its files), but for the host programs' (``HOST*``)."""
    base = Path(folder)
    try:
        base.relative_to(root)
    except ValueError:
        return []
    while base != Path(root) and not any((base / m).is_file() for m in ("Makefile", "Kbuild")):
        base = base.parent
    if base == Path(root):
        return []
    folder = str(base)
    subst = {"$(src)": folder, "$(obj)": folder, "$(srctree)": root, "$(objtree)": root}

    def path_of(word: str) -> Path | None:
        for k, v in subst.items():
            word = word.replace(k, v)
        if "$" in word:
            return None
        return Path(os.path.normpath(word if os.path.isabs(word) else os.path.join(root, word)))

    out: list[Path] = []
    todo, seen = [base / "Makefile", base / "Kbuild"], set()
    while todo and len(seen) < 8:
        mk = todo.pop(0)
        if mk in seen:
            continue
        seen.add(mk)
        try:
            text = overlay.read_text(mk, errors="replace")
        except OSError:
            continue
        for m in _MAKE_INCLUDE.finditer(text):
            got = path_of(m.group(1))
            if got is not None:
                todo.append(got)
        for line in text.replace("\\\n", " ").splitlines():
            if line.lstrip().startswith("HOST") or "-I" not in line:
                continue  # (HOSTCFLAGS, HOST_EXTRACFLAGS: the host programs' flags)
            for m in _MAKE_I.finditer(line):
                got = path_of(m.group(1))
                if got is not None and got not in out and got.is_dir():
                    out.append(got)
    return out


_INCLUDE_S = re.compile(r'^\s*#\s*include\s*["<]([^">]+\.S)[">]', re.M)


def is_linker_script(path: Path) -> bool:
    """``*.lds.S`` files are preprocessed into linker scripts, never assembled."""
    return path.name.endswith(".lds.S")


def included_fragments(files: list[Path]) -> set[Path]:
    """The ``.S`` files that other ``.S`` files ``#include`` (verify_cpu.S,
    the glue helpers of crypto code): the build assembles them only as part of
    their includer, so they are read through it, not on their own."""
    out: set[Path] = set()
    for f in files:
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for m in _INCLUDE_S.finditer(text):
            cand = (f.parent / m.group(1)).resolve()
            if cand.is_file():
                out.add(cand)
    return out


# How kbuild builds a file, as far as reading it goes (arch/x86 Makefiles):
# - only for 32-bit kernels (CONFIG_X86_32): *_32.S, math-emu, OLPC, ...: read
#   with a 32-bit configuration and gcc -m32's predefines, in 32-bit mode;
# - with -m16/-m32 inside a 64-bit kernel (REALMODE_CFLAGS for boot/ and
#   realmode/rm, the 32-bit vDSO): -m32 predefines, 32-bit mode (16-bit code
#   says .code16 itself), the kernel's own configuration.
_KERNEL32 = ("_32.S", "/math-emu/", "/platform/olpc/", "/lib/cmpxchg8b_emu.S", "/um/sys-i386/")
_M32 = ("/arch/x86/boot/", "/arch/x86/realmode/", "/vdso/vdso32/")
_NOT_M32 = ("/arch/x86/boot/compressed/",)


@data(frozen=True)
class Flavour:
    mode: int = 64  # code mode the file starts in
    m32: bool = False  # compiled with -m32/-m16: gcc's 32-bit predefines
    kernel32: bool = False  # built only for 32-bit kernels: a 32-bit configuration


def build_flavour(path: Path) -> Flavour:
    p = path.as_posix()
    if any(p.endswith(m) if m.endswith(".S") else m in p for m in _KERNEL32):
        return Flavour(32, True, True)
    if any(m in p for m in _M32) and not any(m in p for m in _NOT_M32):
        return Flavour(32, True, False)
    return Flavour()


def default_code_mode(path: Path) -> int:
    return build_flavour(path).mode


_CONFIG_DECL = re.compile(r"config\s+(\w+)")
_MENU_OR_NOT = textscan.line_start("menu", "")


def _declared_names(text: str) -> list[str]:
    """``re.findall(r"^\\s*(?:menu)?config\\s+(\\w+)", text, re.M)``,
    searched from the literal word (``textscan``)."""
    return [m.group(1) for m, _ in textscan.finditer(_CONFIG_DECL, text, _MENU_OR_NOT)]


_MAKE_DEFINE = re.compile(r"-DCONFIG_(\w+)")


def kconfig_symbols(root: str) -> frozenset[str]:
    """``_kconfig_symbols``: once per process, and a fact of the tree kept on
    disk across runs (``cache.fact``)."""
    from entrylint import cache

    return cache.fact(("kconfig-symbols", root), _kconfig_symbols, root)


@overlay.tree_cache(maxsize=8)
def _kconfig_symbols(root: str) -> frozenset[str]:
    """Every ``config``/``menuconfig`` name declared by a Kconfig* file under
    ``root``, and every ``CONFIG_`` name a Makefile defines for the compiler
    (``KBUILD_AFLAGS += -DCONFIG_X86_X32_ABI`` in 4.x's arch/x86/Makefile)."""
    names: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            find = _declared_names if f.startswith("Kconfig") else _MAKE_DEFINE.findall if f.startswith(
                ("Makefile", "Kbuild")) else None
            if find is not None:
                text = _read_text(os.path.join(dirpath, f))
                if text is not None:
                    names.update(find(text))
    return frozenset(names)


def _read_text(path: str) -> str | None:
    """A Kconfig or Makefile's text (the overlay's when it holds the file;
    undecodable bytes replaced); None when it cannot be read."""
    try:
        with overlay.open_bytes(path) as fh:
            data = fh.read()
    except OSError:
        return None
    return data.decode("ascii") if data.isascii() else data.decode("utf-8", "replace")


def arch_kconfig_declared(root: str) -> frozenset[str]:
    """``_arch_kconfig_declared``: once per process, and a fact of the tree
    kept on disk across runs (``cache.fact``)."""
    from entrylint import cache

    return cache.fact(("arch-kconfig-symbols", root), _arch_kconfig_declared, root)


@overlay.tree_cache(maxsize=8)
def _arch_kconfig_declared(root: str) -> frozenset[str]:
    """The names the ``Kconfig*`` files of each ``arch/<arch>/`` folder
    declare (its own files, not its subfolders': 58 files of a 6.12 tree),
    each a file ``kconfig_symbols``' walk reads too (os.walk's: no hidden
    folder or folder symlink on the way; a file, or a symlink to one), so
    every name here is one of its names."""
    names: set[str] = set()
    base = os.path.join(root, "arch")
    dir_ok: dict[str, bool] = {}
    try:
        arches = sorted(e.name for e in os.scandir(base) if e.is_dir())
    except OSError:
        return frozenset()
    for arch in arches:
        folder = os.path.join(base, arch)
        if not _walked_folder(root, folder, dir_ok):
            continue
        try:
            files = sorted(e.name for e in os.scandir(folder) if e.name.startswith("Kconfig") and not e.is_dir())
        except OSError:
            continue
        for f in files:
            text = _read_text(os.path.join(folder, f))
            if text is not None:
                names.update(_declared_names(text))
    return frozenset(names)


# the file a source line names: quoted, or (4.x kconfig took it) a bare path
# alone on its line -- a help text's "source and destination" is no path
_SOURCE_WORD = re.compile(r'source\s+(?:"([^"]+)"|([^"\s]*/[^"\s]*)[ \t]*(?:#[^\n]*)?$)', re.M)
_SOURCE_HEAD = textscan.line_start("or", "o", "r", "")


def _sourced(text: str) -> list[tuple[str, str]]:
    """``re.findall(r'^\\s*(o?r?source)\\s+"([^"]+)"', text, re.M)``,
    searched from the literal word (``textscan``), and the bare paths of
    4.x's ``source kernel/Kconfig.hz``: (``source``, ``osource``,
    ``rsource`` or ``orsource``; the file pattern)."""
    return [(head + "source", m.group(1) or m.group(2))
            for m, head in textscan.finditer(_SOURCE_WORD, text, _SOURCE_HEAD)]


def kconfig_declared(root: str, arch: str = "x86") -> frozenset[str]:
    """The ``config`` names Kconfig reads for ``arch``: the files ``source``d
    from the tree's top Kconfig (a few hundred, where walking a full tree for
    every ``Kconfig*`` reads tens of thousands of folders).  A tree without a
    top Kconfig (a small test tree) is walked (``kconfig_symbols``)."""
    return _sourced_kconfig(root, arch)[0]


def kconfig_declares(root: Path | str | None):
    """``declares(CONFIG_X)`` for the tree's Kconfig (``kconfig_declared``),
    or None when there is none to read."""
    if root is None:
        return None
    names = kconfig_declared(str(root))
    if not names:
        return None
    return lambda opt: opt.removeprefix("CONFIG_") in names


class KnownConfig:
    """``kconfig_symbols(root)`` as a set that reads only as much of the tree
    as a question needs: a name the sourced Kconfig files declare
    (``kconfig_declared``, already read for the file's configuration) is in
    it without walking the whole tree, when every one of those files is one
    the walk reads too; so is a name another architecture's top folder
    declares (``arch_kconfig_declared``: ``CONFIG_UML`` in 6.x's
    lib/cmpxchg8b_emu.S).  Only a name neither declares (a misspelt one)
    walks the tree (0.14 s on 6.12)."""

    def __init__(self, root: str):
        self.root = root
        declared, inside = _sourced_kconfig(root, "x86")
        self._declared = declared if inside else frozenset()

    def __contains__(self, name: str) -> bool:
        return name in self._declared or name in arch_kconfig_declared(self.root) \
            or name in kconfig_symbols(self.root)

    def __bool__(self) -> bool:
        return bool(self._declared) or bool(kconfig_symbols(self.root))


def _sourced_kconfig(root: str, arch: str) -> tuple[frozenset[str], bool]:
    """``_read_sourced_kconfig``: once per process, and a fact of the tree
    kept on disk across runs (``cache.fact``)."""
    from entrylint import cache

    return cache.fact(("sourced-kconfig", root, arch), _read_sourced_kconfig, root, arch)


@overlay.tree_cache(maxsize=8)
def _read_sourced_kconfig(root: str, arch: str) -> tuple[frozenset[str], bool]:
    """(kconfig_declared's names, whether every file it read is one
    ``kconfig_symbols`` reads too: a ``Kconfig*`` file under ``root``, in no
    hidden or symlinked folder)."""
    if not Path(root, "Kconfig").is_file():
        return kconfig_symbols(root), True
    inside = True
    top_folder = str(Path(root))
    dir_ok: dict[str, bool] = {}
    names: set[str] = set()
    for f, text in sourced_kconfig(root, arch):
        inside = inside and _walked(top_folder, str(f), dir_ok)
        names.update(_declared_names(text))
    return frozenset(names), inside


def sourced_kconfig(root: str, arch: str = "x86"):
    """(path, text) of each file Kconfig reads for ``arch``: the tree's top
    Kconfig and the files it ``source``s, and theirs (none when the tree
    has no top Kconfig).  Paths are strings spelled as ``Path`` spells them
    (1,600 files of a 6.x tree: no Path object made per file)."""
    root = str(Path(root))  # spelled as Path spells it, as is every folder joined below
    top = _joined(root, "Kconfig")
    if not os.path.isfile(top):
        return
    seen: set[str] = set()
    todo = [top]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        text = _read_text(f)
        if text is None:
            continue
        yield f, text
        for kind, name in _sourced(text) if "source" in text else ():
            name = name.replace("$(SRCARCH)", arch).replace("$SRCARCH", arch).replace("$(ARCH)", arch)
            base = os.path.dirname(f) if kind.endswith("rsource") else root
            if "*" in name:
                todo.extend(str(g) for g in sorted(Path(base).glob(name)))
            else:
                todo.append(_joined(base, name))


def _joined(base: str, name: str) -> str:
    """``str(Path(base) / name)`` for a ``base`` spelled as Path spells it:
    without Path's work where ``name`` needs none of its normalising (no
    ``.`` part, no doubled, leading or trailing slash)."""
    if name and name[0] != "/" and name[-1] != "/" and "//" not in name and "./" not in name \
            and name != "." and not name.endswith("/."):
        if base in ("", "."):
            return name
        if not base.endswith("/"):
            return base + "/" + name
    return str(Path(base) / name)


def _walked(root: str, f: str, dir_ok: dict[str, bool]) -> bool:
    """Whether ``kconfig_symbols``' walk of ``root`` reads the file ``f``: a
    ``Kconfig*`` file below it, no hidden folder or folder symlink on the way
    (os.walk does not follow those)."""
    folder, name = os.path.split(f)
    return name.startswith("Kconfig") and _walked_folder(root, folder, dir_ok)


def _walked_folder(root: str, d: str, memo: dict[str, bool]) -> bool:
    got = memo.get(d)
    if got is None:
        if d == root:
            got = True
        else:
            up, name = os.path.split(d)
            got = (bool(name) and up != d and not name.startswith(".") and not os.path.islink(d)
                   and _walked_folder(root, up, memo))
        memo[d] = got
    return got


def source_files(paths: list[Path]) -> list[Path]:
    """The ``.S`` files a list of paths names: files as given; a kernel tree
    gives its arch/x86 ``.S`` files; any other folder all ``.S`` below it.
    Walking a folder leaves out linker scripts (``*.lds.S``) and fragments
    that other ``.S`` files ``#include``: they are read through their includer."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            base = p / "arch" / "x86" if looks_like_kernel_root(p) else p
            found: list[Path] = []
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".S")]
            fragments = included_fragments(found)
            out += [f for f in found if not is_linker_script(f) and f.resolve() not in fragments]
        else:
            out.append(p)
    return out
