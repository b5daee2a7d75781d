"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other viewers.

Built with the sarif-om object model and written by ``to_sarif`` (deps.md 4),
which uses the schema's property names and drops None and schema defaults
(``level`` is always kept: its default is "warning", and a missing level
would mean the rule's default, not the finding's severity).

What GitHub reads, and where it comes from:

* ``tool.driver.rules``: every rule (``entrylint rules``), every front-end
  kind (EL9xx) and the suppression checks (EL912/913), sorted by id; ``ruleIndex`` points into it.  ``help.markdown``
  is the rule's docstring; ``properties.security-severity`` is a string and
  comes with the ``security`` tag.
* ``results[].locations[0]``: the reviewer's line, with a uri relative to
  ``%SRCROOT%`` (``originalUriBaseIds`` names it, the tree root, without its
  absolute ``file://`` URI: the same tree checked out elsewhere gives the same
  bytes, and a consumer such as GitHub resolves it to its checkout; omitted when
  no root is known and the uri is relative to the working folder).
* ``message.text``: the finding's message as a first sentence that stands
  alone, then ``[via MACRO](N)`` links to ``relatedLocations`` (the
  expansion trace).
* ``codeFlows``: the path from the entry point, each step's state in its
  message, in ``state`` and in ``properties`` (origin/gs/cr3/stack/features).
* ``partialFingerprints``: ``primaryLocationLineHash`` (hash of the
  whitespace-normalized line text, then ``:`` and the how-many-th such line
  in the file, as GitHub computes it) and ``entrylint/v1`` (our fingerprint,
  stable across unrelated edits).
* ``automationDetails.id`` "entrylint/" and ``invocations`` (success, exit code).

The same input gives the same bytes: keys are sorted, there is no time stamp.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote

import attr
import sarif_om as om

from entrylint import __version__
from entrylint.report.paths import display_path
from entrylint.report.text import SourceCache, via_frames

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
STATE_KEYS = ("origin", "gs", "cr3", "stack")
ALWAYS = frozenset({"level"})  # schema properties written even when equal to the default


def to_sarif(o):
    """sarif-om objects to plain JSON data under the schema's names."""
    if attr.has(type(o)):
        out = {}
        for f in attr.fields(type(o)):
            v = getattr(o, f.name)
            name = f.metadata["schema_property_name"]
            dflt = f.default.factory() if isinstance(f.default, attr.Factory) else f.default
            if v is None or (name not in ALWAYS and dflt is not attr.NOTHING and v == dflt):
                continue
            out[name] = to_sarif(v)
        return out
    if isinstance(o, (list, tuple)):
        return [to_sarif(x) for x in o]
    if isinstance(o, dict):
        return {k: to_sarif(v) for k, v in o.items()}
    return o


# -- rules ---------------------------------------------------------------

def _section(doc: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    return " ".join(m.group(1).split()) if m else ""


def _descriptor(info) -> om.ReportingDescriptor:
    tags = list(info.tags)
    props: dict = {"precision": info.precision}
    if info.security_severity is not None:
        props["security-severity"] = f"{float(info.security_severity):.1f}"
        if "security" not in tags:
            tags.append("security")
    if info.status != "stable":
        props["status"] = info.status
    props["tags"] = sorted(set(tags))
    doc = info.doc or info.short
    full = _section(doc, "What it does") or info.short
    return om.ReportingDescriptor(
        id=info.id, name=info.slug,
        short_description=om.MultiformatMessageString(text=info.short),
        full_description=om.MultiformatMessageString(text=full),
        help=om.MultiformatMessageString(text=doc, markdown=doc),
        default_configuration=om.ReportingConfiguration(level=LEVEL[info.severity.value]),
        properties=props)


def _builtin_infos():
    """The findings that are not rules: front-end kinds (EL9xx) and the
    suppression checks (EL912, EL913)."""
    from entrylint.findings import frontend, suppress
    from entrylint.plugins.info import RuleInfo

    general = " ".join((frontend.__doc__ or "").split("\n\n")[0].split()).partition(": ")[2]
    for cls in frontend.ALL:
        own = " ".join((cls.__doc__ or "").split())  # a class's docstring is not inherited
        short = f"Front end: {cls.slug.replace('-', ' ')} ({general.rstrip('.')})."
        doc = "\n\n".join(x for x in (short, own) if x)
        yield RuleInfo(id=cls.id, slug=cls.slug, severity=cls.severity, short=short, doc=doc,
                       precision="very-high", tags=("frontend",), plugin="entrylint")
    about = " ".join((suppress.__doc__ or "").split())
    for cls in (suppress.UnusedSuppression, suppress.SuppressionWithoutReason):
        short = f"Inline suppression: {cls.template.format(rules='the rules')}."
        yield RuleInfo(id=cls.id, slug=cls.slug, severity=cls.severity, short=short,
                       doc="\n\n".join(x for x in (short, about) if x), precision="very-high",
                       tags=("suppression",), plugin="entrylint")


def rule_infos(rule_infos=None) -> list:
    """Every rule, every front-end kind and the suppression checks, sorted by id."""
    if rule_infos is None:
        from entrylint import api

        rule_infos = api.rules().info.values()
    by_id = {i.id: i for i in _builtin_infos()}
    by_id.update({i.id: i for i in rule_infos})
    return [by_id[k] for k in sorted(by_id)]


# -- results ---------------------------------------------------------------

def _escape(text: str) -> str:
    """Message text is Markdown-like for links: literal brackets are escaped."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _artifact(file: str, root) -> om.ArtifactLocation:
    shown = display_path(file, root)
    if shown.startswith("<"):
        return om.ArtifactLocation(uri=quote(shown))
    if Path(shown).is_absolute():
        return om.ArtifactLocation(uri=Path(shown).as_uri())
    return om.ArtifactLocation(uri=quote(shown, safe="/"), uri_base_id=SRCROOT)


def _physical(loc, root) -> om.PhysicalLocation:
    return om.PhysicalLocation(artifact_location=_artifact(loc.file, root),
                               region=om.Region(start_line=max(loc.line, 1), start_column=max(loc.col, 1)))


def parse_state(state: str) -> dict:
    """``(origin=user gs=kernel cr3=user stack=task FRED=off,XENPV=off)`` as a dict."""
    out: dict = {}
    features = []
    for tok in state.strip().strip("()").split():
        key, eq, val = tok.partition("=")
        if eq and key in STATE_KEYS:
            out[key] = val
        elif tok:
            features.append(tok)
    if features:
        out["features"] = " ".join(features)
    return out


def _norm(line: str) -> str:
    return " ".join(line.split())


def line_hash(lines: list[str], line: int, fallback: str) -> str:
    """GitHub's primaryLocationLineHash idea: a hash of the normalized line
    text, then the how-many-th line with that text in the file."""
    if 0 < line <= len(lines):
        text = _norm(lines[line - 1])
        n = sum(1 for x in lines[:line] if _norm(x) == text)
    else:
        text, n = _norm(fallback), 1
    return f"{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}:{n}"


def _result(root, f, index: dict, cache: SourceCache) -> om.Result:
    loc = f.location
    text = _sentence(_escape(f.message))
    related = []
    links = []
    for n, (where, macro) in enumerate(via_frames(f), start=1):
        via = f"via {macro}" if macro else "via a macro"
        related.append(om.Location(id=n, physical_location=_physical(where, root), message=om.Message(text=via)))
        links.append(f"[{via}]({n})")
    if links:
        text += " The instruction comes from a macro expansion: " + ", ".join(links) + "."
    base = len(related)
    for n, site in enumerate(f.sites, start=base + 1):
        related.append(om.Location(id=n, physical_location=_physical(site, root),
                                   message=om.Message(text="expanded here" if f.sites_kind == "expansions"
                                                      else "and here")))
    if f.sites:
        text += (f" Every one of its {len(f.sites)} expansions yields it: " if f.sites_kind == "expansions"
                 else f" The same fault is {f.sites_phrase}: ") + ", ".join(
            f"[here]({n})" for n in range(base + 1, base + len(f.sites) + 1)) + "."
    base = len(related)
    for n, site in enumerate(f.later, start=base + 1):
        related.append(om.Location(id=n, physical_location=_physical(site, root),
                                   message=om.Message(text="a later step of this fault")))
    if f.later:
        text += f" Later steps that only inherit its state are sites of it, {f.later_phrase}: " + ", ".join(
            f"[here]({n})" for n in range(base + 1, base + len(f.later) + 1)) + "."
    flows = None
    if f.path:
        steps = []
        for p in f.path:
            state = parse_state(p.state)
            steps.append(om.ThreadFlowLocation(
                location=om.Location(physical_location=_physical(p.location, root),
                                     message=om.Message(text=f"{p.note} {p.state}".strip())),
                state={k: om.MultiformatMessageString(text=v) for k, v in state.items()} or None,
                properties=state or None))
        flows = [om.CodeFlow(thread_flows=[om.ThreadFlow(locations=steps)])]
    fps = {"entrylint/v1": f.fingerprint}
    if loc:
        fps["primaryLocationLineHash"] = line_hash(cache.lines(loc.file), loc.line, f.context or f.message)
    props: dict = {"slug": f.slug}
    if f.profiles:
        props["profiles"] = list(f.profiles)
    if f.assumptions:
        props["assumptions"] = list(f.assumptions)
    if f.symbol:
        props["symbol"] = f.symbol
    return om.Result(
        rule_id=f.id, rule_index=index[f.id], level=LEVEL[f.severity.value], message=om.Message(text=text),
        locations=[om.Location(physical_location=_physical(loc, root))] if loc else None,
        related_locations=related or None, code_flows=flows, partial_fingerprints=fps, properties=props)


def _srcroot(results) -> str | None:
    roots = {Path(r).resolve() for r, _ in results if r is not None}
    if len(roots) != 1:
        return None
    return roots.pop().as_uri().rstrip("/") + "/"


def build(results, exit_code: int = 0, rule_infos_=None, root=None) -> om.SarifLog:
    """``results``: (root, finding) pairs; ``root``: the tree root when known
    without findings (else taken from the findings)."""
    infos = rule_infos(rule_infos_)
    ids = [i.id for i in infos]
    for _, f in results:  # a plug-in finding with no registered rule still gets a descriptor
        if f.id not in ids:
            from entrylint.plugins.info import RuleInfo

            doc = " ".join((type(f).__doc__ or f.slug).split())
            infos.append(RuleInfo(id=f.id, slug=f.slug, severity=f.severity, short=doc, doc=doc))
            ids.append(f.id)
    index = {k: n for n, k in enumerate(ids)}
    cache = SourceCache()
    srcroot = _srcroot(results) or (Path(root).resolve().as_uri().rstrip("/") + "/" if root else None)
    driver = om.ToolComponent(name="entrylint", version=__version__, semantic_version=__version__,
                              rules=[_descriptor(i) for i in infos])
    run = om.Run(
        tool=om.Tool(driver=driver),
        automation_details=om.RunAutomationDetails(id="entrylint/"),
        # the root's place on disk is left out (issue 9: no bytes depend on where the tree is)
        original_uri_base_ids={SRCROOT: om.ArtifactLocation(
            description=om.Message(text="the root of the kernel tree checked"))} if srcroot else None,
        invocations=[om.Invocation(execution_successful=exit_code in (0, 1), exit_code=exit_code)],
        results=[_result(r, f, index, cache) for r, f in results])
    return om.SarifLog(version="2.1.0", schema_uri=SCHEMA_URI, runs=[run])


def render(results, nfiles: int = 0, nlines: int = 0, exit_code: int = 0, root=None) -> str:  # noqa: ARG001
    return json.dumps(to_sarif(build(results, exit_code, root=root)), indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"
