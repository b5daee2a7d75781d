"""The macros a kbuild ``.S`` compile starts with.

``gcc -dM -E -x assembler-with-cpp -m64 -fno-PIE /dev/null`` (gcc 12.2, x86-64
Debian) gives the compiler's part; kbuild adds ``-D__KERNEL__`` and
``-D__ASSEMBLY__`` for every ``.S`` file (see any ``.entry_64.o.cmd``).  The
per-file ``-DKBUILD_*`` flags are left to the caller (``CppOptions.defines``).
``gcc -undef`` keeps ``__STDC__`` and ``__ASSEMBLER__`` (and its built-ins such
as ``__FILE__``); everything else here must be passed to it as ``-D``.
"""

from __future__ import annotations

PREDEFINES: tuple[tuple[str, str], ...] = (
    # language and compiler
    ("__STDC__", "1"),
    ("__ASSEMBLER__", "1"),
    ("__GNUC__", "12"),
    ("__GNUC_MINOR__", "2"),
    ("__GNUC_PATCHLEVEL__", "0"),
    ("__VERSION__", '"12.2.0"'),
    ("__GNUC_STDC_INLINE__", "1"),
    ("__NO_INLINE__", "1"),
    ("__GNUC_EXECUTION_CHARSET_NAME", '"UTF-8"'),
    ("__GNUC_WIDE_EXECUTION_CHARSET_NAME", '"UTF-32LE"'),
    # target
    ("__x86_64__", "1"),
    ("__x86_64", "1"),
    ("__amd64__", "1"),
    ("__amd64", "1"),
    ("__k8", "1"),
    ("__k8__", "1"),
    ("__code_model_small__", "1"),
    ("__MMX__", "1"),
    ("__SSE__", "1"),
    ("__SSE2__", "1"),
    ("__FXSR__", "1"),
    ("__SSE_MATH__", "1"),
    ("__SSE2_MATH__", "1"),
    ("__MMX_WITH_SSE__", "1"),
    ("__SEG_FS", "1"),
    ("__SEG_GS", "1"),
    ("__LP64__", "1"),
    ("_LP64", "1"),
    ("__ELF__", "1"),
    ("__linux__", "1"),
    ("__linux", "1"),
    ("__gnu_linux__", "1"),
    ("__unix__", "1"),
    ("__unix", "1"),
    ("__CHAR_BIT__", "8"),
    ("__ORDER_LITTLE_ENDIAN__", "1234"),
    ("__ORDER_BIG_ENDIAN__", "4321"),
    ("__ORDER_PDP_ENDIAN__", "3412"),
    ("__BYTE_ORDER__", "__ORDER_LITTLE_ENDIAN__"),
    ("__FLOAT_WORD_ORDER__", "__ORDER_LITTLE_ENDIAN__"),
    ("__SIZEOF_INT__", "4"),
    ("__SIZEOF_LONG__", "8"),
    ("__SIZEOF_LONG_LONG__", "8"),
    ("__SIZEOF_SHORT__", "2"),
    ("__SIZEOF_POINTER__", "8"),
    ("__SIZEOF_FLOAT__", "4"),
    ("__SIZEOF_DOUBLE__", "8"),
    ("__SIZEOF_LONG_DOUBLE__", "16"),
    ("__SIZEOF_SIZE_T__", "8"),
    ("__SIZEOF_WCHAR_T__", "4"),
    ("__SIZEOF_WINT_T__", "4"),
    ("__SIZEOF_PTRDIFF_T__", "8"),
    ("__SIZEOF_INT128__", "16"),
    ("__SIZEOF_FLOAT80__", "16"),
    ("__SIZEOF_FLOAT128__", "16"),
    # kbuild, every .S file
    ("__KERNEL__", "1"),
    ("__ASSEMBLY__", "1"),
)

# The ones `gcc -undef` still defines by itself (not to be passed as -D).
GCC_UNDEF_KEEPS = frozenset({"__STDC__", "__ASSEMBLER__"})
