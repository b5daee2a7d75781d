"""Return frames built by hand (analysis/frames.py): an iret that goes on at
a label of the program, not to an interrupted context.  The function is
called from C (a C call before its iret: entries._leaves_to_user)."""

from __future__ import annotations

from entrylint import api
from entrylint.analysis.frames import iret_targets

BODY = """
	.section .entry.text, "ax"
	.globl	{name}
	.type	{name}, @function
{name}:
	call	fixture_handler
	pushq	$0x18
	pushq	%rbp
	pushfq
	pushq	$0x10
	{rip}
	{between}
	{ret}
1:
	ret
"""


def _targets(tmp_path, rip="pushq\t$1f", between="", ret="iretq") -> list[tuple[int, ...]]:
    f = tmp_path / "f.S"
    f.write_text(BODY.format(name="fixture_from_c", rip=rip, between=between, ret=ret))
    an = api.analyze(f, api.Options(profile="max"))
    irets = [i.index for i in an.program.instructions
             if i.info is not None and i.info.flow.value == "iret"]
    assert irets
    return [iret_targets(an.forward, n) for n in irets]


def test_the_nmi_idiom_goes_on_at_its_label(tmp_path):
    (got,) = _targets(tmp_path)
    assert got  # pushq $1f; iretq: the RIP is the last slot pushed


def test_a_code_address_in_a_register_is_the_frame_s_rip(tmp_path):
    (got,) = _targets(tmp_path, rip="leaq\t1f(%rip), %rax\n\tpushq\t%rax")
    assert got


def test_the_iret_must_pop_the_rip_the_path_pushed(tmp_path):
    # a slot pushed after the RIP and not dropped: the iret's frame is another
    assert _targets(tmp_path, between="pushq\t%rdi") == [()]
    # pushed and dropped by a known amount: the RIP again
    assert _targets(tmp_path, between="pushq\t%rdi\n\tpushq\t%rsi\n\taddq\t$16, %rsp")[0]
    # a call into C, direct or through a register, returns with %rsp where it was
    assert _targets(tmp_path, between="call\tfixture_c_function\n\tcall\t*%rbx")[0]
    # dropped past it: the frame is gone
    assert _targets(tmp_path, between="addq\t$8, %rsp") == [()]
    # the stack switched: not the path's frame
    assert _targets(tmp_path, between="movq\t%rdi, %rsp") == [()]


def test_erets_pops_an_error_code_first(tmp_path):
    erets = ".byte\t0xf2, 0x0f, 0x01, 0xca"
    assert _targets(tmp_path, between="pushq\t$0", ret=erets)[0]
    assert _targets(tmp_path, ret=erets) == [()]  # no error code below the RIP


def test_an_unknown_amount_keeps_the_frame_only_in_a_function_called_from_c(tmp_path):
    # add $C_PTREGS_SIZE, %rsp without a build (6.9+'s asm_fred_entry_from_kvm):
    # a function called from C has no interrupted context to return to
    assert _targets(tmp_path, between="pushq\t%rdi\n\taddq\t$FIXTURE_UNKNOWN_SIZE, %rsp")[0]
