"""The directives GNU as 2.40 knows on x86-64 ELF (pseudo-ops that reach the
program layer unchanged).  Directives the expander itself consumes (macros,
conditionals, repetitions, assignments, sections) have handlers in
``expander``; every name here is simply passed through."""

from __future__ import annotations

_PLAIN = """
abort align altmacro short ascii asciz att_mnemonic att_syntax attach_to_group
balign balignl balignw base64 bfloat16 bss bundle_align_mode bundle_lock
bundle_unlock byte code16 code16gcc code32 code64 comm common data dc dc.a
dc.b dc.d dc.l dc.s dc.w dc.x dcb dcb.b dcb.d dcb.l dcb.s dcb.w dcb.x ds ds.b
ds.d ds.l ds.p ds.s ds.w ds.x debug_sections def desc dim double eject end
endef endfunc err error extern fail file fill float func global globl
gnu_attribute hfloat hidden hword ident incbin include insn int intel_mnemonic
intel_syntax internal irpc lcomm largecomm lflags line linefile linkonce list ln
loc loc_mark_labels local long mri noaltmacro nolist nop nops noopt octa offset
optim org p2align p2alignl p2alignw print protected psize quad reloc sbttl scl
secrel32 sect single size skip sleb128 slong space stabd stabn stabs string
string16 string32 string64 string8 struct symver tag tfloat title tls_common
type uleb128 val value version vtable_entry vtable_inherit warning weak
weakref word zero 2byte 4byte 8byte arch tcomm subsection
cfi_sections cfi_startproc cfi_endproc cfi_fde_data cfi_def_cfa
cfi_def_cfa_register cfi_def_cfa_offset cfi_adjust_cfa_offset cfi_offset
cfi_rel_offset cfi_register cfi_return_column cfi_restore cfi_undefined
cfi_same_value cfi_remember_state cfi_restore_state cfi_window_save
cfi_escape cfi_signal_frame cfi_personality cfi_personality_id cfi_lsda
cfi_val_encoded_addr cfi_inline_lsda cfi_label cfi_val_offset
"""

PASS_THROUGH: frozenset[str] = frozenset("." + w for w in _PLAIN.split())
