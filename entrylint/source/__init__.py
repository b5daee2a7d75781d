"""Files, locations, the kernel tree root and plain problem records (stdlib only)."""

from entrylint.source.location import Location, Problem, ProblemKind

__all__ = ["Location", "Problem", "ProblemKind"]
