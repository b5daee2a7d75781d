"""Plugins: the hook specifications and the marker plugins use."""

import pluggy

hookimpl = pluggy.HookimplMarker("entrylint")

__all__ = ["hookimpl"]
