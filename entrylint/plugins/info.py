"""Rule metadata and per-run rule configuration (plain data)."""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any

from entrylint.findings.model import Severity
from entrylint.source.record import data

ID_RE = re.compile(r"^EL\d{3}$")


@data(frozen=True)
class RuleInfo:
    """What a rule is, for ``entrylint rule``, SARIF ``tool.driver.rules`` and
    LSP hover.  ``doc`` is the rule module's docstring (Markdown)."""

    id: str
    slug: str
    severity: Severity
    short: str  # one sentence
    doc: str  # the full documentation
    precision: str = "high"  # SARIF: very-high, high, medium, low
    security_severity: float | None = None  # SARIF/GitHub: 0.0-10.0
    tags: tuple[str, ...] = ()
    status: str = "stable"  # stable, preview, deprecated, removed
    plugin: str = ""  # the distribution or module that provides it

    @property
    def help_text(self) -> str:
        return self.doc

    @classmethod
    def from_module(cls, module, finding_cls, **kw) -> RuleInfo:
        """Metadata from a rule module: its docstring is the documentation and
        its finding class gives id, slug and severity."""
        doc = (module.__doc__ or "").strip()
        short = kw.pop("short", None) or _first_sentence(doc)
        return cls(id=finding_cls.id, slug=finding_cls.slug, severity=finding_cls.severity, short=short,
                   doc=doc, plugin=kw.pop("plugin", module.__name__), **kw)


def _first_sentence(doc: str) -> str:
    for block in doc.split("\n\n"):
        text = " ".join(line.strip() for line in block.splitlines() if not line.startswith("#")).strip()
        if text:
            m = re.match(r"(.+?\.)(\s|$)", text)
            return m.group(1) if m else text
    return ""


@data
class RuleConfig:
    """Which rules run and with which options."""

    enabled: frozenset[str] = frozenset()  # rule ids
    options: dict[str, Any] = field(default_factory=dict)  # [tool.entrylint] keys, by rule slug or global
    profile: str = ""

    def is_enabled(self, rule_id: str) -> bool:
        return rule_id in self.enabled

    def option(self, slug: str, key: str, default=None):
        return self.options.get(slug, {}).get(key, self.options.get(key, default))
