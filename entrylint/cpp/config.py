"""Kernel configurations: a parsed ``.config`` or a built-in profile.

The profiles are data (MODEL section 6): ``defconfig`` holds the values the
x86_64 defconfig of 6.1 and 6.12 gives to the CONFIG_ symbols that arch/x86
``.S`` files and the headers they include test (see _DEFCONFIG below for how
the selection was made); ``max`` adds PTI and the debug options that put C
calls on the entry paths, and builds 32-bit files with PAE (so with PTI,
4.19+: ``as_x86_32``); ``pti-off`` is defconfig without PTI.
"""

from __future__ import annotations

import re
from dataclasses import field, replace
from pathlib import Path

from entrylint.source.record import data

_LINE_RE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET_RE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set")


_DOTCONFIGS: dict = {}  # name -> ((name, text), Kconfig): the last .config parsed under that name


@data(frozen=True)
class Kconfig:
    """A configuration: ``values`` maps ``CONFIG_X`` to ``y``, ``m``, a quoted
    string or a number, exactly as ``.config`` writes them; symbols that are
    not set are absent."""

    name: str
    values: dict[str, str] = field(default_factory=dict)
    # a 32-bit build of it takes PAE for the options the tree offers to
    # 64-bit or PAE kernels (``max``: entry_32.S with page-table isolation)
    pae32: bool = False

    def enabled(self, sym: str) -> bool:
        """True for ``y`` and ``m`` (``sym`` with or without ``CONFIG_``)."""
        if not sym.startswith("CONFIG_"):
            sym = "CONFIG_" + sym
        return self.values.get(sym) in ("y", "m")

    def with_overrides(self, overrides: dict[str, str | None], name: str | None = None) -> "Kconfig":
        """A copy with some values changed; None (or ``n``) unsets a symbol."""
        vals = dict(self.values)
        for k, v in overrides.items():
            if not k.startswith("CONFIG_"):
                k = "CONFIG_" + k
            if v is None or v == "n":
                vals.pop(k, None)
            else:
                vals[k] = v
        return Kconfig(name or self.name, vals, self.pae32)

    @classmethod
    def from_dotconfig(cls, path: Path | str, name: str | None = None) -> "Kconfig":
        p = Path(path)
        text = p.read_text(errors="replace")
        key = (name or str(p), text)
        got = _DOTCONFIGS.get(key[0])
        if got is not None and got[0] == key:
            return got[1]  # every file of a run reads the same .config: parsed once per process
        kc = cls.from_text(text, key[0])
        _DOTCONFIGS[key[0]] = (key, kc)
        return kc

    @classmethod
    def from_text(cls, text: str, name: str = ".config") -> "Kconfig":
        vals: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            m = _LINE_RE.match(line)
            if m:
                if m.group(2) != "n":
                    vals[m.group(1)] = m.group(2)
                else:
                    vals.pop(m.group(1), None)
                continue
            m = _UNSET_RE.match(line)
            if m:
                vals.pop(m.group(1), None)
        return cls(name, vals)

    @classmethod
    def from_profile(cls, name: str) -> "Kconfig":
        try:
            return PROFILES[name]
        except KeyError:
            raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None

    def defines(self) -> dict[str, str]:
        """The macros autoconf.h defines, name -> replacement text."""
        out: dict[str, str] = {}
        for k, v in self.values.items():
            if v == "y":
                out[k] = "1"
            elif v == "m":
                out[k + "_MODULE"] = "1"
            else:
                out[k] = v
        return out

    def autoconf_h(self) -> str:
        """What kbuild writes to include/generated/autoconf.h for this configuration."""
        lines = ["/*", " * Automatically generated file; DO NOT EDIT.", f" * entrylint profile {self.name}", " */"]
        for k, v in self.defines().items():
            lines.append(f"#define {k} {v}")
        return "\n".join(lines) + "\n"


# Values of x86_64 defconfig (6.1 and 6.12, `make defconfig`) for the CONFIG_
# symbols tested by arch/x86 .S files and the headers they include (the symbols
# found in the files `gcc -M` lists for every arch/x86 .S file, both versions).
# Symbols that defconfig leaves unset are not listed.
_DEFCONFIG: dict[str, str] = {
    'CONFIG_64BIT': 'y',
    'CONFIG_ACPI': 'y',
    'CONFIG_ACPI_SLEEP': 'y',
    'CONFIG_ARCH_DMA_ADDR_T_64BIT': 'y',
    'CONFIG_ARCH_HAS_HW_PTE_YOUNG': 'y',
    'CONFIG_ARCH_HAS_MEM_ENCRYPT': 'y',
    'CONFIG_ARCH_HAS_NONLEAF_PMD_YOUNG': 'y',
    'CONFIG_ARCH_HAS_PTE_DEVMAP': 'y',
    'CONFIG_ARCH_SUPPORTS_CFI_CLANG': 'y',
    'CONFIG_ARCH_USE_SYM_ANNOTATIONS': 'y',
    'CONFIG_AS_AVX512': 'y',
    'CONFIG_AS_GFNI': 'y',
    'CONFIG_AS_VAES': 'y',
    'CONFIG_AS_VPCLMULQDQ': 'y',
    'CONFIG_BASE_SMALL': '0',
    'CONFIG_BLK_DEV_INITRD': 'y',
    'CONFIG_BUG': 'y',
    'CONFIG_BUILD_SALT': '""',
    'CONFIG_CALL_PADDING': 'y',
    'CONFIG_CALL_THUNKS': 'y',
    'CONFIG_CC_HAS_ASM_GOTO_OUTPUT': 'y',
    'CONFIG_CC_HAS_ASM_INLINE': 'y',
    'CONFIG_CC_HAS_NAMED_AS': 'y',
    'CONFIG_CC_VERSION_TEXT': '"gcc (Debian 12.2.0-14+deb12u1) 12.2.0"',
    'CONFIG_COMPAT': 'y',
    'CONFIG_CPU_IBPB_ENTRY': 'y',
    'CONFIG_CPU_IBRS_ENTRY': 'y',
    'CONFIG_CPU_IDLE': 'y',
    'CONFIG_CPU_SRSO': 'y',
    'CONFIG_CPU_UNRET_ENTRY': 'y',
    'CONFIG_CRASH_HOTPLUG': 'y',
    'CONFIG_DEBUG_BUGVERBOSE': 'y',
    'CONFIG_DEBUG_ENTRY': 'y',
    'CONFIG_DEBUG_WX': 'y',
    'CONFIG_DEFAULT_HOSTNAME': '"(none)"',
    'CONFIG_DYNAMIC_MEMORY_LAYOUT': 'y',
    'CONFIG_EFI': 'y',
    'CONFIG_EFI_DXE_MEM_ATTRIBUTES': 'y',
    'CONFIG_EFI_HANDOVER_PROTOCOL': 'y',
    'CONFIG_EFI_MIXED': 'y',
    'CONFIG_EFI_STUB': 'y',
    'CONFIG_EVENT_TRACING': 'y',
    'CONFIG_FUNCTION_ALIGNMENT': '16',
    'CONFIG_FUNCTION_PADDING_BYTES': '16',
    'CONFIG_FW_LOADER': 'y',
    'CONFIG_GENERIC_BUG': 'y',
    'CONFIG_GENERIC_BUG_RELATIVE_POINTERS': 'y',
    'CONFIG_HAVE_ARCH_HUGE_VMAP': 'y',
    'CONFIG_HAVE_ARCH_JUMP_LABEL_RELATIVE': 'y',
    'CONFIG_HAVE_ARCH_PREL32_RELOCATIONS': 'y',
    'CONFIG_HAVE_ARCH_SOFT_DIRTY': 'y',
    'CONFIG_HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD': 'y',
    'CONFIG_HAVE_DYNAMIC_FTRACE_NO_PATCHABLE': 'y',
    'CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS': 'y',
    'CONFIG_HAVE_FENTRY': 'y',
    'CONFIG_HAVE_JUMP_LABEL_HACK': 'y',
    'CONFIG_HAVE_KVM': 'y',
    'CONFIG_HAVE_STATIC_CALL_INLINE': 'y',
    'CONFIG_HAVE_UID16': 'y',
    'CONFIG_HOTPLUG_CPU': 'y',
    'CONFIG_HUGETLB_PAGE': 'y',
    'CONFIG_IA32_EMULATION': 'y',
    'CONFIG_IRQ_DOMAIN_HIERARCHY': 'y',
    'CONFIG_IRQ_WORK': 'y',
    'CONFIG_JUMP_LABEL': 'y',
    'CONFIG_KEXEC_CORE': 'y',
    'CONFIG_KPROBES': 'y',
    'CONFIG_KVM_GUEST': 'y',
    'CONFIG_MICROCODE': 'y',
    'CONFIG_MITIGATION_CALL_DEPTH_TRACKING': 'y',
    'CONFIG_MITIGATION_IBPB_ENTRY': 'y',
    'CONFIG_MITIGATION_IBRS_ENTRY': 'y',
    'CONFIG_MITIGATION_ITS': 'y',
    'CONFIG_MITIGATION_PAGE_TABLE_ISOLATION': 'y',
    'CONFIG_MITIGATION_RETHUNK': 'y',
    'CONFIG_MITIGATION_RETPOLINE': 'y',
    'CONFIG_MITIGATION_SRSO': 'y',
    'CONFIG_MITIGATION_UNRET_ENTRY': 'y',
    'CONFIG_MMU': 'y',
    'CONFIG_MODULES': 'y',
    'CONFIG_NOINSTR_VALIDATION': 'y',
    'CONFIG_NR_CPUS': '64',
    'CONFIG_OBJTOOL': 'y',
    'CONFIG_OUTPUT_FORMAT': '"elf64-x86-64"',
    'CONFIG_PAGE_SHIFT': '12',
    'CONFIG_PAGE_TABLE_ISOLATION': 'y',
    'CONFIG_PARAVIRT': 'y',
    'CONFIG_PCI_MMCONFIG': 'y',
    'CONFIG_PCI_MSI': 'y',
    'CONFIG_PGTABLE_LEVELS': '5',
    'CONFIG_PHYSICAL_ALIGN': '0x200000',
    'CONFIG_PHYSICAL_START': '0x1000000',
    'CONFIG_PHYS_ADDR_T_64BIT': 'y',
    'CONFIG_PM_TRACE': 'y',
    'CONFIG_PRINTK': 'y',
    'CONFIG_PROC_FS': 'y',
    'CONFIG_PROVIDE_OHCI1394_DMA_INIT': 'y',
    'CONFIG_RANDOMIZE_BASE': 'y',
    'CONFIG_RANDOMIZE_MEMORY': 'y',
    'CONFIG_RELOCATABLE': 'y',
    'CONFIG_RETHUNK': 'y',
    'CONFIG_RETPOLINE': 'y',
    'CONFIG_SECURITY': 'y',
    'CONFIG_SERIAL_EARLYCON': 'y',
    'CONFIG_SMP': 'y',
    'CONFIG_SPARSEMEM': 'y',
    'CONFIG_SPARSEMEM_VMEMMAP': 'y',
    'CONFIG_STACKPROTECTOR': 'y',
    'CONFIG_STRICT_KERNEL_RWX': 'y',
    'CONFIG_STRICT_MODULE_RWX': 'y',
    'CONFIG_THERMAL': 'y',
    'CONFIG_TRACEPOINTS': 'y',
    'CONFIG_TRACING': 'y',
    'CONFIG_UID16': 'y',
    'CONFIG_UNWINDER_ORC': 'y',
    'CONFIG_USE_X86_SEG_SUPPORT': 'y',
    'CONFIG_X86_5LEVEL': 'y',
    'CONFIG_X86_64': 'y',
    'CONFIG_X86_64_SMP': 'y',
    'CONFIG_X86_CET': 'y',
    'CONFIG_X86_CMOV': 'y',
    'CONFIG_X86_CMPXCHG64': 'y',
    'CONFIG_X86_DEBUGCTLMSR': 'y',
    'CONFIG_X86_ESPFIX64': 'y',
    'CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS': 'y',
    'CONFIG_X86_INTERNODE_CACHE_SHIFT': '6',
    'CONFIG_X86_IOPL_IOPERM': 'y',
    'CONFIG_X86_IO_APIC': 'y',
    'CONFIG_X86_KERNEL_IBT': 'y',
    'CONFIG_X86_L1_CACHE_SHIFT': '6',
    'CONFIG_X86_LOCAL_APIC': 'y',
    'CONFIG_X86_MCE': 'y',
    'CONFIG_X86_MCE_AMD': 'y',
    'CONFIG_X86_MCE_THRESHOLD': 'y',
    'CONFIG_X86_MINIMUM_CPU_FAMILY': '64',
    'CONFIG_X86_THERMAL_VECTOR': 'y',
    'CONFIG_X86_UMIP': 'y',
    'CONFIG_X86_VSYSCALL_EMULATION': 'y',
}

# What `max` adds: PTI under both names, and options that put C calls or extra
# work on the entry paths (entry_64.S, entry_64_compat.S, calling.h test them).
_MAX_EXTRA: dict[str, str] = {
    "CONFIG_PAGE_TABLE_ISOLATION": "y",
    "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION": "y",
    "CONFIG_TRACE_IRQFLAGS": "y",
    "CONFIG_TRACE_IRQFLAGS_SUPPORT": "y",
    "CONFIG_IRQSOFF_TRACER": "y",
    "CONFIG_PROVE_LOCKING": "y",
    "CONFIG_DEBUG_LOCK_ALLOC": "y",
    "CONFIG_LOCKDEP": "y",
    "CONFIG_CONTEXT_TRACKING": "y",
    "CONFIG_CONTEXT_TRACKING_USER": "y",
    "CONFIG_CONTEXT_TRACKING_IDLE": "y",
    "CONFIG_PARAVIRT": "y",
    "CONFIG_PARAVIRT_XXL": "y",
    "CONFIG_PARAVIRT_SPINLOCKS": "y",
    "CONFIG_XEN": "y",
    "CONFIG_XEN_PV": "y",
    "CONFIG_DEBUG_ENTRY": "y",
    "CONFIG_X86_ESPFIX64": "y",
    "CONFIG_IA32_EMULATION": "y",
    "CONFIG_STACKPROTECTOR": "y",
    "CONFIG_MITIGATION_IBRS_ENTRY": "y",
    "CONFIG_CPU_IBRS_ENTRY": "y",
    "CONFIG_MITIGATION_RETPOLINE": "y",
    "CONFIG_RETPOLINE": "y",
    "CONFIG_MITIGATION_RETHUNK": "y",
    "CONFIG_RETHUNK": "y",
    "CONFIG_MITIGATION_SRSO": "y",
    "CONFIG_CPU_SRSO": "y",
    "CONFIG_MITIGATION_UNRET_ENTRY": "y",
    "CONFIG_CPU_UNRET_ENTRY": "y",
    "CONFIG_CALL_DEPTH_TRACKING": "y",
    "CONFIG_MITIGATION_CALL_DEPTH_TRACKING": "y",
    "CONFIG_AMD_MEM_ENCRYPT": "y",
    "CONFIG_X86_FRED": "y",
    "CONFIG_KVM_INTEL": "m",
}

_PTI = ("CONFIG_PAGE_TABLE_ISOLATION", "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION")


def _make_profiles() -> dict[str, Kconfig]:
    base = Kconfig("defconfig", dict(_DEFCONFIG))
    return {
        "defconfig": base,
        "max": replace(base.with_overrides(_MAX_EXTRA, name="max"), pae32=True),
        "pti-off": base.with_overrides({s: None for s in _PTI}, name="pti-off"),
    }


PROFILES: dict[str, Kconfig] = _make_profiles()


# Reading a file that kbuild builds only for 32-bit kernels (entry_32.S, ...):
# the symbols x86_64's defconfig sets and i386's does not, and the ones i386's
# sets that arch/x86 asm tests (from `make defconfig` and `make ARCH=i386
# defconfig` of 6.1 and 6.12; facts, kept as data).
NOT_IN_X86_32_DEFCONFIG = (
    "CONFIG_64BIT", "CONFIG_ARCH_DMA_ADDR_T_64BIT", "CONFIG_ARCH_HAS_NONLEAF_PMD_YOUNG",
    "CONFIG_ARCH_HAS_PTE_DEVMAP", "CONFIG_ARCH_SUPPORTS_CFI_CLANG", "CONFIG_CALL_PADDING",
    "CONFIG_CALL_THUNKS", "CONFIG_COMPAT", "CONFIG_CPU_IBPB_ENTRY", "CONFIG_CPU_IBRS_ENTRY",
    "CONFIG_CPU_SRSO", "CONFIG_CPU_UNRET_ENTRY", "CONFIG_DYNAMIC_MEMORY_LAYOUT", "CONFIG_EFI_MIXED",
    "CONFIG_GENERIC_BUG_RELATIVE_POINTERS", "CONFIG_HAVE_ARCH_HUGE_VMAP", "CONFIG_HAVE_ARCH_SOFT_DIRTY",
    "CONFIG_HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD", "CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS",
    "CONFIG_HAVE_FENTRY", "CONFIG_HAVE_JUMP_LABEL_HACK", "CONFIG_HAVE_STATIC_CALL_INLINE",
    "CONFIG_IA32_EMULATION", "CONFIG_MITIGATION_CALL_DEPTH_TRACKING", "CONFIG_MITIGATION_IBPB_ENTRY",
    "CONFIG_MITIGATION_IBRS_ENTRY", "CONFIG_MITIGATION_ITS", "CONFIG_MITIGATION_PAGE_TABLE_ISOLATION",
    "CONFIG_MITIGATION_RETHUNK", "CONFIG_MITIGATION_SRSO", "CONFIG_MITIGATION_UNRET_ENTRY",
    "CONFIG_NOINSTR_VALIDATION", "CONFIG_OBJTOOL", "CONFIG_PAGE_TABLE_ISOLATION",
    "CONFIG_PHYS_ADDR_T_64BIT", "CONFIG_RANDOMIZE_MEMORY", "CONFIG_RETHUNK", "CONFIG_SPARSEMEM",
    "CONFIG_SPARSEMEM_VMEMMAP", "CONFIG_UNWINDER_ORC", "CONFIG_X86_5LEVEL", "CONFIG_X86_64",
    "CONFIG_X86_64_SMP", "CONFIG_X86_CET", "CONFIG_X86_ESPFIX64",
    "CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS", "CONFIG_X86_KERNEL_IBT", "CONFIG_X86_VSYSCALL_EMULATION",
)
X86_32_DEFCONFIG_ONLY = {
    "CONFIG_X86_32": "y", "CONFIG_M686": "y", "CONFIG_X86_USE_PPRO_CHECKSUM": "y",
    "CONFIG_X86_ESPFIX32": "y", "CONFIG_HIGHMEM4G": "y", "CONFIG_PAGE_OFFSET": "0xC0000000",
    "CONFIG_HIGHMEM": "y", "CONFIG_PCI_BIOS": "y", "CONFIG_FLATMEM": "y", "CONFIG_KMAP_LOCAL": "y",
    "CONFIG_FRAME_POINTER": "y", "CONFIG_UNWINDER_FRAME_POINTER": "y",
}


# A 32-bit kernel with PAE (the 64GB highmem choice): what a profile that
# enables an option the tree offers to "X86_64 || X86_PAE" builds as.
X86_32_PAE = {"CONFIG_X86_PAE": "y", "CONFIG_HIGHMEM64G": "y", "CONFIG_HIGHMEM4G": None,
              "CONFIG_PHYS_ADDR_T_64BIT": "y", "CONFIG_PGTABLE_LEVELS": "3"}


def as_x86_32(kconfig: "Kconfig", root: Path | None = None) -> "Kconfig":
    """The configuration a 32-bit build of the same profile would have; with a
    tree, the options its Kconfig makes depend on X86_64 are dropped too, and
    those it offers to 64-bit *or* PAE kernels (page-table isolation since
    4.19) are kept, with PAE: ``max`` reads entry_32.S with its CR3 switches
    compiled in, as a PAE kernel runs them."""
    over: dict[str, str | None] = {k: None for k in NOT_IN_X86_32_DEFCONFIG}
    keep: set[str] = set()
    if root is not None:
        from entrylint.cpp.kconfig_deps import requires_64bit, with_pae

        over.update({k: None for k in requires_64bit(root, kconfig.values)})
        if kconfig.pae32:
            keep = {k for k in with_pae(root, kconfig.values) if kconfig.values.get(k) not in (None, "n")}
    over.update(X86_32_DEFCONFIG_ONLY)
    if keep:
        over.update({k: kconfig.values[k] for k in keep})
        over.update(X86_32_PAE)
    return kconfig.with_overrides(over, name=f"{kconfig.name}+x86_32")
