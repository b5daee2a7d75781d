"""Compare our expansion (``entrylint expand --format json``) with objdump of the object.

    report = compare(expansion_json_dict, objdump_insns)   # ObjDump or list[ObjInsn]
    print(report.table())
    report.ok("sequence"), report.ok("layout"), report.agreement("sequence") -> (agree, total)

One row per (section, symbol), symbols as objdump attributes them: an
instruction belongs to the last symbol heading at or before its address, and
bytes before the first symbol belong to the section-start pseudo symbol (the
section's name, see objdump.py).  Our instructions are put in a row by their
offset when they have one (same rule, objdump's headings), else by their
``symbol`` field.  ``.altinstr_replacement`` is one row, one stream.

Two modes, both per row:

* sequence: our canonical mnemonics, in order (by offset when every instruction
  of the row has one, else program order), equal objdump's canonical mnemonics
  of the row once the objdump instructions lying wholly inside one of our
  ``data`` ranges (alignment, alternative padding, .byte ...) are dropped.
* layout (only when every instruction of ours in the row has an offset, else
  None = not checked): every objdump instruction is wholly inside a data range
  or starts where we have an instruction with the same canonical mnemonic;
  every one of our instructions has an objdump instruction starting at its
  offset with the same canonical mnemonic (and, when we give a size, the same
  length).  One tolerance: an objdump instruction whose leading bytes are our
  data (a ``.byte 0x2e`` prefix) and whose rest is exactly our instruction
  counts as that instruction.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .objdump import ObjDump, ObjInsn

ALTREPL = ".altinstr_replacement"
MODES = ("sequence", "layout")


@dataclass
class Row:
    section: str
    symbol: str
    ours: int = 0                      # our instructions in the row
    objdump: int = 0                   # objdump instructions in the row
    padding: int = 0                   # of which wholly inside our data ranges
    sequence: bool = True
    sequence_why: str = ""
    layout: bool | None = None         # None: not checked (offsets missing)
    layout_why: str = ""
    start: int = 1 << 62               # for ordering

    def agrees(self, mode: str) -> bool | None:
        return self.sequence if mode == "sequence" else self.layout


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def agreement(self, mode: str) -> tuple[int, int]:
        """(rows agreeing, rows) in this mode; layout rows not checked count as not agreeing."""
        return sum(1 for r in self.rows if r.agrees(mode) is True), len(self.rows)

    def ok(self, mode: str) -> bool:
        a, n = self.agreement(mode)
        return a == n

    def mismatches(self, mode: str) -> list[Row]:
        return [r for r in self.rows if r.agrees(mode) is not True]

    def row(self, section: str, symbol: str) -> Row | None:
        for r in self.rows:
            if (r.section, r.symbol) == (section, symbol):
                return r
        return None

    def table(self) -> str:
        def mark(v: bool | None) -> str:
            return "n/a" if v is None else ("yes" if v else "NO")
        head = ("section", "symbol", "ours", "objdump", "pad", "sequence", "layout", "first mismatch")
        body = []
        for r in self.rows:
            why = r.sequence_why if not r.sequence else (r.layout_why if r.layout is not True else "")
            body.append((r.section, r.symbol, str(r.ours), str(r.objdump), str(r.padding),
                         mark(r.sequence), mark(r.layout), why))
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head) - 1)]
        lines = []
        for x in [head, *body]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(x, widths)) + "  " + x[-1])
        for mode in MODES:
            a, n = self.agreement(mode)
            pct = 100.0 * a / n if n else 100.0
            lines.append(f"{mode}: {a}/{n} symbols agree ({pct:.1f}%)")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    __str__ = table


# --------------------------------------------------------------------------- helpers

def _describe_ours(i: dict) -> str:
    where = f"{i.get('file')}:{i.get('line')}" if i.get("file") else "?"
    off = i.get("offset")
    at = f" @0x{off:x}" if isinstance(off, int) else ""
    canon = i.get("canonical") or f"<unknown: {i.get('mnemonic')}>"
    return f"{canon} ({i.get('mnemonic')} at {where}{at})"


def _describe_obj(o: ObjInsn) -> str:
    return f"{o.canonical} ({o.text} @0x{o.address:x})"


class _Ranges:
    """Sorted, merged [start, end) ranges of one section."""

    def __init__(self, spans: Iterable[tuple[int, int]]):
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if e <= s:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def covers(self, start: int, end: int) -> bool:
        k = bisect.bisect_right(self.starts, start) - 1
        return k >= 0 and end <= self.ends[k]


def _owner(headings: list[tuple[int, str]], address: int, section: str) -> str:
    k = bisect.bisect_right([a for a, _ in headings], address) - 1
    return headings[k][1] if k >= 0 else section


def _headings_from(insns: Sequence[ObjInsn]) -> dict[str, list[tuple[int, str]]]:
    first: dict[tuple[str, str], int] = {}
    for o in insns:
        key = (o.section, o.symbol)
        first[key] = min(first.get(key, o.address), o.address)
    out: dict[str, list[tuple[int, str]]] = {}
    for (sec, sym), a in first.items():
        out.setdefault(sec, []).append((a, sym))
    for v in out.values():
        v.sort()
    return out


def _first_difference(ours: list[dict], theirs: list[ObjInsn]) -> str:
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if a.get("canonical") != b.canonical:
            return f"#{k}: ours {_describe_ours(a)} vs objdump {_describe_obj(b)}"
    k = min(len(ours), len(theirs))
    if len(ours) > k:
        return f"#{k}: ours has {len(ours) - k} more, first {_describe_ours(ours[k])}"
    return f"#{k}: objdump has {len(theirs) - k} more, first {_describe_obj(theirs[k])}"


# --------------------------------------------------------------------------- compare

def compare(expansion: dict[str, Any], objdump: ObjDump | Sequence[ObjInsn]) -> Report:
    obj = list(objdump.insns if isinstance(objdump, ObjDump) else objdump)
    headings = _headings_from(obj)
    report = Report()

    ours_all = [i for i in expansion.get("instructions", []) if i.get("section") is not None]
    data_all = expansion.get("data", []) or []

    # data ranges per section (only entries with a place)
    spans: dict[str, list[tuple[int, int]]] = {}
    unplaced_data = 0
    for d in data_all:
        off, size = d.get("offset"), d.get("size")
        if isinstance(off, int) and isinstance(size, int):
            spans.setdefault(d.get("section"), []).append((off, off + size))
        else:
            unplaced_data += 1
    ranges = {sec: _Ranges(v) for sec, v in spans.items()}
    empty = _Ranges(())
    if unplaced_data:
        report.notes.append(f"{unplaced_data} data item(s) without offset/size: their bytes cannot be set aside")

    def key_ours(i: dict) -> tuple[str, str]:
        sec = i["section"]
        if sec == ALTREPL:
            return (sec, sec)
        off = i.get("offset")
        if isinstance(off, int) and sec in headings:
            return (sec, _owner(headings[sec], off, sec))
        return (sec, i.get("symbol") or sec)

    def key_obj(o: ObjInsn) -> tuple[str, str]:
        return (o.section, o.section) if o.section == ALTREPL else (o.section, o.symbol)

    ours_by: dict[tuple[str, str], list[dict]] = {}
    for i in ours_all:
        ours_by.setdefault(key_ours(i), []).append(i)
    obj_by: dict[tuple[str, str], list[ObjInsn]] = {}
    for o in obj:
        obj_by.setdefault(key_obj(o), []).append(o)
    obj_at: dict[str, dict[int, ObjInsn]] = {}
    for o in obj:
        obj_at.setdefault(o.section, {})[o.address] = o

    section_order = {s: n for n, s in enumerate(dict.fromkeys([o.section for o in obj] + [i["section"] for i in ours_all]))}

    for key in sorted(set(ours_by) | set(obj_by),
                      key=lambda k: (section_order.get(k[0], 1 << 30),
                                     obj_by[k][0].address if k in obj_by else 1 << 62, k[1])):
        sec, sym = key
        mine = list(ours_by.get(key, []))
        theirs_all = obj_by.get(key, [])
        rng = ranges.get(sec, empty)
        placed = all(isinstance(i.get("offset"), int) for i in mine)
        if placed:
            mine.sort(key=lambda i: i["offset"])        # stable: program order among equals
        theirs = [o for o in theirs_all if not rng.covers(o.address, o.end)]
        row = Row(sec, sym, ours=len(mine), objdump=len(theirs_all), padding=len(theirs_all) - len(theirs),
                  start=theirs_all[0].address if theirs_all else 1 << 62)

        # ---- sequence
        if sec not in obj_at and mine:
            row.sequence, row.sequence_why = False, f"objdump has no section {sec}"
        elif [i.get("canonical") for i in mine] != [o.canonical for o in theirs] or any(
                i.get("canonical") is None for i in mine):
            row.sequence = False
            if not theirs_all and mine:
                row.sequence_why = f"objdump has no symbol {sym} in {sec}; ours starts with {_describe_ours(mine[0])}"
            elif not mine:
                row.sequence_why = f"ours has no instruction here; objdump starts with {_describe_obj(theirs[0])}"
            else:
                row.sequence_why = _first_difference(mine, theirs)

        # ---- layout
        if placed and (mine or theirs_all):
            row.layout, row.layout_why = _layout(sec, mine, theirs_all, rng, obj_at.get(sec, {}))
        elif not placed:
            row.layout_why = "layout not checked: some of our instructions have no offset"
        report.rows.append(row)
    return report


def _layout(sec: str, mine: list[dict], theirs: list[ObjInsn], rng: _Ranges,
            obj_at: dict[int, ObjInsn]) -> tuple[bool, str]:
    ours_at: dict[int, dict] = {}
    for i in mine:
        ours_at.setdefault(i["offset"], i)
    problems: list[tuple[int, str]] = []
    merged_tails: set[int] = set()      # our offsets covered by an objdump insn with a data prefix

    for o in theirs:
        if rng.covers(o.address, o.end):
            continue
        mine_here = ours_at.get(o.address)
        if mine_here is not None and mine_here.get("canonical") == o.canonical:
            continue
        # data prefix + our instruction == one objdump instruction (e.g. .byte 0x2e; jmp ...)
        tail = next((i for a, i in ours_at.items() if o.address < a < o.end), None)
        if (tail is not None and mine_here is None and rng.covers(o.address, tail["offset"])
                and tail.get("canonical") == o.canonical
                and (tail.get("size") is None or tail["offset"] + tail["size"] == o.end)):
            merged_tails.add(tail["offset"])
            continue
        there = _describe_ours(mine_here) if mine_here is not None else "nothing"
        problems.append((o.address, f"objdump {_describe_obj(o)}: ours has {there} there, and no data range covers it"))

    for i in mine:
        off = i["offset"]
        o = obj_at.get(off)
        if off in merged_tails:
            continue
        if o is None:
            inside = next((x for x in theirs if x.address < off < x.end), None)
            extra = f" (inside objdump {_describe_obj(inside)})" if inside else ""
            problems.append((off, f"ours {_describe_ours(i)}: no objdump instruction starts at 0x{off:x}{extra}"))
        elif o.canonical != i.get("canonical"):
            problems.append((off, f"ours {_describe_ours(i)} vs objdump {_describe_obj(o)}"))
        elif isinstance(i.get("size"), int) and i["size"] != o.size:
            problems.append((off, f"ours {_describe_ours(i)} is {i['size']} bytes, objdump's is {o.size}"))
    if not problems:
        return True, ""
    problems.sort(key=lambda p: p[0])
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return False, problems[0][1] + more
