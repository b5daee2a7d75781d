"""The whole plugin contract of entrylint.

A plugin is a module (or object) with functions marked ``@hookimpl``,
registered through the ``entrylint.rules`` entry-point group -- the same door
the built-in rules use.  A rule plugin implements both hooks below.

Types are imported only for type checkers, so this module imports nothing of
entrylint's at run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from entrylint.api import Analysis
    from entrylint.findings.model import Finding
    from entrylint.plugins.info import RuleConfig, RuleInfo

hookspec = pluggy.HookspecMarker("entrylint")


# ---------------------------------------------------------------------------
# Metadata


@hookspec
def entrylint_rules() -> Sequence[RuleInfo]:
    """The rules this plugin provides: id (``EL`` + three digits; third
    parties take ids outside the built-in ranges), slug, severity,
    descriptions, documentation and SARIF properties.

    Called once per run by the plugin manager, before any check.  Every
    plugin's results are collected."""


# ---------------------------------------------------------------------------
# Checking


@hookspec
def entrylint_check(analysis: Analysis, config: RuleConfig) -> Iterable[Finding]:
    """Yield the findings of this plugin's rules on one analysed file.

    ``analysis`` is read-only: the expanded program, its CFG, the entry
    points, the forward states and events, liveness and flag reach.
    ``config`` says which of the plugin's rules are enabled and carries the
    options of the configuration file.  Called once per file and profile;
    every plugin's findings are collected (no first-result-wins)."""
