"""The GNU as macro layer: preprocessed lines in, flat statements with
expansion traces out (see ``expand``)."""

from entrylint.gas.expander import UnknownDirective, expand
from entrylint.gas.model import BodyLine, GasOptions, GasResult, MacroInfo, Param
from entrylint.gas.types import Frame, Stmt, Trace

__all__ = ["expand", "GasOptions", "GasResult", "MacroInfo", "Param", "BodyLine",
           "UnknownDirective", "Frame", "Stmt", "Trace"]
