"""Patch review (issue 12): parse, apply, review, report."""


class PatchError(Exception):
    """A patch that cannot be read or placed (the CLI prints one line)."""
