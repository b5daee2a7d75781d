"""The words of the C an index reads (analysis/cindex.py): the attribute
macros blanked before parsing, and the *definer* macros that define a
function under a name they make from their argument (``DEFINE_IDTENTRY_RAW
(exc_int3) { ... }`` defines ``exc_int3``), read from the tree's own
``arch/x86/include/asm/idtentry.h`` (``definers_from_header``) over a
fallback table of what 6.1 and 6.12 say (``FALLBACK_DEFINERS``)."""

from __future__ import annotations

import re
from pathlib import Path

# Attribute-like macros blanked before parsing.  Bare words, then macros with
# one balanced argument list.  Keep this a table: add names, never logic.
ATTRIBUTE_WORDS: tuple[str, ...] = (
    "noinstr", "__visible", "notrace", "__always_inline", "noinline", "__init", "__exit",
    "__cold", "__noreturn", "__noclone", "__used", "__weak", "__attribute_const__",
    "__must_check", "__maybe_unused", "__always_unused", "asmlinkage", "__kprobes",
    "nokprobe_inline", "__ref", "__cpuidle", "__flatten", "__latent_entropy", "__sched",
    "__irq_entry", "__naked", "__init_or_module", "__head", "__noendbr", "__nocfi",
    "__no_kcsan", "__no_sanitize_address", "__no_profile", "__no_kasan_or_inline",
    "__no_stack_protector", "__fastcall", "__pure", "__ro_after_init", "__initdata",
    "__read_mostly", "__noinstr_section", "__section", "__attribute__", "__aligned",
    "__printf", "__scanf", "__nonnull", "__alloc_size", "__malloc", "__diag_ignore",
    "__no_sanitize_undefined", "__no_sanitize_memory", "__no_sanitize_thread",
    "__noscs", "__nostackprotector",
)


# name -> (name template, noinstr, attributes).  "{}" is the macro argument.
# What 6.1/6.12 headers say; the tree's own idtentry.h overrides these.
FALLBACK_DEFINERS: dict[str, tuple[str, bool, frozenset[str]]] = {
    **{m: ("{}", True, frozenset({"__visible", "noinstr"})) for m in (
        "DEFINE_IDTENTRY", "DEFINE_IDTENTRY_SW", "DEFINE_IDTENTRY_ERRORCODE", "DEFINE_IDTENTRY_RAW",
        "DEFINE_IDTENTRY_RAW_ERRORCODE", "DEFINE_IDTENTRY_IRQ", "DEFINE_IDTENTRY_SYSVEC",
        "DEFINE_IDTENTRY_SYSVEC_SIMPLE", "DEFINE_IDTENTRY_IST", "DEFINE_IDTENTRY_DF",
        "DEFINE_IDTENTRY_NMI", "DEFINE_IDTENTRY_MCE", "DEFINE_IDTENTRY_DEBUG")},
    "DEFINE_IDTENTRY_NOIST": ("noist_{}", True, frozenset({"__visible", "noinstr"})),
    "DEFINE_IDTENTRY_MCE_USER": ("noist_{}", True, frozenset({"__visible", "noinstr"})),
    "DEFINE_IDTENTRY_DEBUG_USER": ("noist_{}", True, frozenset({"__visible", "noinstr"})),
    "DEFINE_IDTENTRY_VC_KERNEL": ("kernel_{}", True, frozenset({"__visible", "noinstr"})),
    "DEFINE_IDTENTRY_VC_USER": ("user_{}", True, frozenset({"__visible", "noinstr"})),
    "DEFINE_FREDENTRY_RAW": ("fred_{}", True, frozenset({"noinstr"})),
    "DEFINE_FREDENTRY_NMI": ("fred_{}", True, frozenset({"noinstr"})),
    "DEFINE_FREDENTRY_MCE": ("fred_{}", True, frozenset({"noinstr"})),
    "DEFINE_FREDENTRY_DEBUG": ("fred_{}", True, frozenset({"noinstr"})),
    # Syscalls: the x86-64 wrapper symbol (arch/x86/include/asm/syscall_wrapper.h).
    **{f"SYSCALL_DEFINE{n}": ("__x64_sys_{}", False, frozenset()) for n in range(7)},
    **{f"COMPAT_SYSCALL_DEFINE{n}": ("__ia32_compat_sys_{}", False, frozenset()) for n in range(7)},
}
IDTENTRY_HEADER = "arch/x86/include/asm/idtentry.h"

# --- definers from idtentry.h ---------------------------------------------

_DEFINE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(DEFINE_\w+)(\((\w+)\))?[ \t]*((?:.*\\\n)*.*)$", re.M)


def definers_from_header(text: str) -> dict[str, tuple[str, bool, frozenset[str]]]:
    """Read the DEFINE_* macros of an idtentry.h: name -> (template, noinstr, attrs)."""
    raw: dict[str, tuple[str | None, str]] = {}
    for m in _DEFINE_RE.finditer(text):
        name, param, body = m.group(1), m.group(3), m.group(4).replace("\\\n", " ")
        raw.setdefault(name, (param, body))
    out: dict[str, tuple[str, bool, frozenset[str]]] = {}

    def resolve(name: str, depth: int = 0):
        if name in out:
            return out[name]
        if name not in raw or depth > 8:
            return FALLBACK_DEFINERS.get(name)
        param, body = raw[name]
        res = None
        if param is None:  # object-like alias
            target = body.strip()
            res = resolve(target, depth + 1) if re.fullmatch(r"\w+", target) else None
        else:
            arg = re.escape(param)
            for d in re.finditer(r"([\w\s]*?)\b(\w+)\s+((?:\w+##)?" + arg + r"(?:##\w+)?)\s*\(", body):
                attrs = set(d.group(1).split())
                if "static" in attrs:
                    continue
                res = (d.group(3).replace("##", "").replace(param, "{}", 1),
                       "noinstr" in attrs, frozenset(attrs & set(ATTRIBUTE_WORDS)),
                       count_params(_balanced(body, d.end() - 1)))
                break
            if res is None:  # forwards: OTHER(prefix##func)
                f = re.match(r"\s*(DEFINE_\w+)\s*\(\s*((?:\w+##)?" + arg + r")\s*\)", body)
                if f:
                    inner = resolve(f.group(1), depth + 1)
                    if inner:
                        res = (inner[0].replace("{}", f.group(2).replace("##", "").replace(param, "{}")),
                               *inner[1:])
        if res is not None:
            out[name] = res
        return res

    for name in raw:
        resolve(name)
    return out


def _balanced(text: str, open_at: int) -> str:
    """The text inside the parentheses that open at ``open_at``."""
    depth = 0
    for k in range(open_at, len(text)):
        depth += text[k] == "("
        depth -= text[k] == ")"
        if depth == 0:
            return text[open_at + 1:k]
    return text[open_at + 1:]


def count_params(plist: str | None) -> int | None:
    """How many parameters a C parameter list declares: ``void`` is none;
    a variadic or unreadable list is unknown (None)."""
    if plist is None:
        return None
    parts, depth, cur = [], 0, ""
    for ch in plist:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    parts = [p.strip() for p in parts]
    if parts == ["void"] or parts == [""]:
        return 0
    if any(p == "..." or not p for p in parts):
        return None
    return len(parts)


def definers_of(root: Path) -> dict:
    """The definer table of the tree at ``root``: its idtentry.h's over the fallback."""
    definers = dict(FALLBACK_DEFINERS)
    header = root / IDTENTRY_HEADER
    if header.is_file():
        definers.update(definers_from_header(header.read_text(errors="replace")))
    return definers
