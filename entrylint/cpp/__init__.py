"""The C preprocessor layer: what ``gcc -E -x assembler-with-cpp`` does to a
kernel ``.S`` file, with the origin and presence condition of every line."""

from entrylint.cpp.config import PROFILES, Kconfig
from entrylint.cpp.macros import MacroDef
from entrylint.cpp.predefines import PREDEFINES
from entrylint.cpp.preprocessor import CppOptions, PPResult, preprocess_file, preprocess_text
from entrylint.cpp.types import Cond, Condition, PPLine, Segment, plain_lines

__all__ = ["CppOptions", "PPResult", "MacroDef", "Kconfig", "PROFILES", "PREDEFINES",
           "preprocess_file", "preprocess_text", "Cond", "Condition", "PPLine", "Segment", "plain_lines"]
