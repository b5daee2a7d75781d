"""Finding, loading and validating rule plugins (flake8's three steps).

1. find: the ``entrylint.rules`` entry points, metadata only, sorted;
2. load: import each; an import error names the package and becomes a
   ``PluginError`` (the CLI prints one line), never a traceback;
3. validate: ids match ``EL\\d{3}``, ids and slugs are unique, every hook
   has a spec.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from entrylint.plugins import hookspecs
from entrylint.plugins.info import ID_RE, RuleConfig, RuleInfo
from entrylint.source import dists
from entrylint.source.record import data

GROUP = "entrylint.rules"


class PluginError(Exception):
    """A plugin could not be loaded or breaks the contract."""


@data(frozen=True, order=True)
class Plugin:
    name: str  # entry point name
    value: str  # module:object
    dist: str  # distribution that declares it


def find_plugins(group: str = GROUP) -> list[Plugin]:
    return sorted({Plugin(*ep) for ep in dists.entry_points(group)})


class Rules:
    """The loaded, validated rule plugins of a run."""

    def __init__(self, extra: Iterable[object] = (), group: str = GROUP, entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("entrylint")
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, RuleInfo] = {}
        self._owner: dict[str, object] = {}
        plugins = find_plugins(group) if entry_points else []
        for p in plugins:
            try:
                obj = dists.load(p.value)
            except Exception as e:  # noqa: BLE001 - any import failure is the plugin's
                raise PluginError(f"cannot load rule plugin {p.name!r} ({p.dist or p.value}): "
                                  f"{type(e).__name__}: {e}") from e
            self._register(obj, p.dist or p.value)
        for obj in extra:
            self._register(obj, getattr(obj, "__name__", repr(obj)))
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as e:
            raise PluginError(f"rule plugin breaks the contract: {e}") from e

    def _register(self, obj, origin: str) -> None:
        if self.pm.is_registered(obj):
            return
        try:
            self.pm.register(obj)
        except (ValueError, pluggy.PluginValidationError) as e:
            raise PluginError(f"cannot register rule plugin {origin}: {e}") from e
        for info in _call_one(obj, "entrylint_rules"):
            self._validate(info, origin)
            self.info[info.id] = info
            self._owner[info.id] = obj

    def _validate(self, info: RuleInfo, origin: str) -> None:
        if not ID_RE.match(info.id):
            raise PluginError(f"{origin}: rule id {info.id!r} is not EL followed by three digits")
        if info.id in self.info:
            raise PluginError(f"{origin}: rule id {info.id} is already provided by {self.info[info.id].plugin}")
        if any(i.slug == info.slug for i in self.info.values()):
            raise PluginError(f"{origin}: rule slug {info.slug!r} is already taken")

    def resolve(self, names: Iterable[str]) -> set[str]:
        """Rule ids named by ids, slugs or id prefixes (``EL2``)."""
        out = set()
        for n in names:
            n = n.strip()
            hit = {i for i, r in self.info.items() if i == n.upper() or r.slug == n or
                   (n.upper().startswith("EL") and i.startswith(n.upper()))}
            if not hit:
                raise PluginError(f"unknown rule {n!r} (see entrylint rules)")
            out |= hit
        return out

    def lookup(self, name: str) -> RuleInfo | None:
        n = name.strip()
        for r in self.info.values():
            if r.id == n.upper() or r.slug == n:
                return r
        return None

    def check(self, analysis, config: RuleConfig, limits=None) -> list:
        """The findings of every enabled rule on one analysed file; past
        ``limits.rule_findings`` of one plugin, it is not asked for more and
        one EL906 finding says so (source/limits.py)."""
        owners = {id(self._owner[i]) for i in config.enabled if i in self._owner}
        skip = [p for p in self.pm.get_plugins() if id(p) not in owners]
        caller = self.pm.subset_hook_caller("entrylint_check", remove_plugins=skip)
        cap = limits.rule_findings if limits is not None else None
        out = []
        for result in caller(analysis=analysis, config=config):
            n = 0
            for f in result or ():
                if not config.is_enabled(f.id):
                    continue
                if cap is not None and n >= cap:
                    out.append(_over(limits, f, analysis))
                    break
                out.append(f)
                n += 1
        return out


def _over(limits, f, analysis):
    """The EL906 finding of a rule plugin cut at rule-findings, at the first
    finding it was not asked for."""
    from entrylint.findings.frontend import from_problem
    from entrylint.source import Problem, ProblemKind
    from entrylint.source.limits import hit

    what = (f"{f.id} ({f.slug}) reported {limits.rule_findings} findings here: "
            "the rest of the file was not examined for it")
    return from_problem(Problem(ProblemKind.LIMIT, hit(limits, "rule-findings", what), f.location),
                        (analysis.expansion.profile,))


def _call_one(obj, name: str) -> list[RuleInfo]:
    fn = getattr(obj, name, None)
    return list(fn() or ()) if fn is not None else []
