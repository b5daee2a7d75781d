#!/usr/bin/env python3
"""Fetch Debian's linux-source packages into a cache folder outside the repo.

    python3 tools/fetch_kernels.py [--cache DIR] [--version 6.1 --version 6.12] [--build]

The cache folder is $ENTRYLINT_KERNEL_CACHE, else ~/.cache/entrylint/kernels.
Each version lands in CACHE/linux-<ver>/ (a source tree without the large folders
that neither analysis nor a build of arch/x86/entry reads -- drivers, fs, net,
sound, other architectures -- except their Kconfig/Makefile/Kbuild files, so
that `make defconfig` works).  With --build, CACHE/build-<ver>/ is made with
`make O=... defconfig` and the entry objects are built there, so that the
source tree is never written to.

Kernel source never enters the repository: tests find the cache through
entrylint's test fixtures and skip with a reason when it is absent.

--build builds the versions asked for (all by default); CI fetches 6.1 and
fetches + builds 6.12 with two calls.

``--version sid`` fetches today's kernel: the newest linux-source-* of
Debian unstable, found through apt lists of its own under CACHE/apt-sid (the
system's apt sources are not changed), into CACHE/linux-sid.  It is not among
the defaults (unstable moves on: a later fetch may give another kernel;
remove CACHE/linux-sid to take the newest again); tools/version_survey.py and
tests/test_versions_kernels.py take it where it is present, as debian-sid.

Exit status: 0 done; 3 a linux-source package is not in this system's apt
sources (e.g. on Ubuntu, which does not ship Debian's linux-source-6.1/6.12:
the kernel tests then skip); 4 the build tools are missing; 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSIONS = ("6.1", "6.12")
OPTIONAL = ("sid",)  # fetched only when asked for: Debian unstable's newest kernel
SID_SOURCES = """Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
ENTRY_OBJECTS = ("arch/x86/entry/entry_64.o", "arch/x86/entry/entry_64_compat.o")

# Large folders that neither analysis nor a build of arch/x86/entry reads: only
# their build files (Kconfig, Makefile, Kbuild) are extracted, so that
# `make defconfig` still sees every Kconfig.  Everything else is extracted.
SKIP = ("drivers/", "sound/", "fs/", "net/", "Documentation/", "samples/", "firmware/",
        "LICENSES/", "rust/", "tools/testing/", "tools/perf/")
KEEP_IN_SKIP = ("Documentation/arch/x86/", "Documentation/x86/")
BUILD_FILE_PREFIXES = ("Kconfig", "Makefile", "Kbuild")


EXIT_NOT_AVAILABLE = 3
EXIT_NO_TOOLS = 4
BUILD_TOOLS = ("make", "gcc", "flex", "bison", "bc")


class Unavailable(Exception):
    """The package cannot be had on this system (not an error of the script)."""


def cache_dir(arg: str | None = None) -> Path:
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get("ENTRYLINT_KERNEL_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "entrylint" / "kernels"


def wanted(rel: str) -> bool:
    if "/" not in rel:  # top-level files: Makefile, Kconfig, Kbuild, ...
        return True
    # arch/um: the x86 user-mode-Linux files under arch/x86/um read its headers
    if rel.startswith("arch/") and not rel.startswith(("arch/x86/", "arch/um/", "arch/Kconfig")):
        return rel.rsplit("/", 1)[-1].startswith(BUILD_FILE_PREFIXES)
    if rel.startswith(SKIP) and not rel.startswith(KEEP_IN_SKIP):
        return rel.rsplit("/", 1)[-1].startswith(BUILD_FILE_PREFIXES)
    return True


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def _sid_apt(cache: Path) -> list[str]:
    """apt options that read Debian unstable's lists, kept under CACHE/apt-sid
    (made there by ``apt-get update``), instead of the system's sources."""
    base = cache / "apt-sid"
    (base / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (base / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (base / "sid.sources").write_text(SID_SOURCES)
    return ["-o", f"Dir::Etc::sourcelist={base / 'sid.sources'}", "-o", "Dir::Etc::sourceparts=/nonexistent",
            "-o", f"Dir::State::Lists={base / 'lists'}", "-o", f"Dir::Cache={base / 'cache'}"]


def _newest_sid_source(apt: list[str]) -> str:
    """The number of the newest linux-source-N.M in unstable (``7.2``)."""
    run(["apt-get", *apt, "update", "-qq"])
    out = subprocess.run(["apt-cache", *apt, "search", "--names-only", r"^linux-source-[0-9]"],
                         capture_output=True, text=True, check=True).stdout
    found = [ln.split()[0][len("linux-source-"):] for ln in out.splitlines() if ln.startswith("linux-source-")]
    if not found:
        raise Unavailable("Debian unstable lists no linux-source-N.M package")
    return max(found, key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")])


def fetch(version: str, cache: Path) -> Path:
    dest = cache / f"linux-{version}"
    stamp = dest / ".entrylint-complete"
    if stamp.exists():
        print(f"linux-{version}: present in {dest}")
        return dest
    if shutil.which("apt-get") is None or shutil.which("apt-cache") is None:
        raise Unavailable("apt-get is needed to download Debian's linux-source packages")
    cache.mkdir(parents=True, exist_ok=True)
    apt: list[str] = []
    number = version
    if version == "sid":
        apt = _sid_apt(cache)
        number = _newest_sid_source(apt)
    pkg = f"linux-source-{number}"
    show = subprocess.run(["apt-cache", *apt, "show", pkg], capture_output=True, text=True)
    if show.returncode != 0 or not show.stdout.strip():
        raise Unavailable(
            f"{pkg} is not in this system's apt sources. It is a Debian package (bookworm:"
            f" linux-source-6.1; bookworm-backports or trixie: linux-source-6.12); Ubuntu does not"
            f" ship it. Run `apt-get update` first if this is Debian.")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        tmpp = Path(tmp)
        run(["apt-get", *apt, "download", pkg], cwd=tmpp)
        debs = sorted(tmpp.glob(f"{pkg}_*.deb"))
        if not debs:
            raise SystemExit(f"fetch-kernels: no linux-source-{version} package downloaded")
        run(["dpkg-deb", "-x", str(debs[0]), str(tmpp / "x")])
        tarball = next((tmpp / "x" / "usr" / "src").glob(f"{pkg}.tar.*"))
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        n = 0
        # Python >= 3.12 (and 3.10.12+/3.11.4+) take an extraction filter; older ones reject the keyword.
        extract_kw = {"filter": "tar"} if hasattr(tarfile, "data_filter") else {}
        with tarfile.open(tarball) as tf:
            for member in tf:
                name = member.name
                top, _, rel = name.partition("/")
                if not rel or not wanted(rel):
                    continue
                if not (member.isfile() or member.isdir() or member.issym()):
                    continue
                member.name = rel
                tf.extract(member, dest, **extract_kw)
                n += 1
        (dest / ".entrylint-version").write_text(debs[0].name + "\n")
        stamp.write_text(f"{n} files\n")
        print(f"linux-{version}: {n} files extracted into {dest}")
    return dest


def build(version: str, cache: Path, jobs: int) -> Path:
    src = cache / f"linux-{version}"
    out = cache / f"build-{version}"
    stamp = out / ".entrylint-built"
    if stamp.exists():
        print(f"build-{version}: present in {out}")
        return out
    if not (src / ".entrylint-complete").exists():
        raise SystemExit(f"fetch-kernels: {src} is not fetched, cannot build")
    missing = [t for t in BUILD_TOOLS if shutil.which(t) is None]
    if missing:
        print(f"fetch-kernels: cannot build {version}: missing build tools: {', '.join(missing)}"
              " (Debian/Ubuntu: apt-get install make gcc flex bison bc libelf-dev libssl-dev)", file=sys.stderr)
        raise SystemExit(EXIT_NO_TOOLS)
    out.mkdir(parents=True, exist_ok=True)
    run(["make", "-s", "-C", str(src), f"O={out}", "defconfig"])
    run(["make", "-s", "-C", str(src), f"O={out}", f"-j{jobs}", *ENTRY_OBJECTS])
    stamp.write_text("ok\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", help="cache folder (default: $ENTRYLINT_KERNEL_CACHE or ~/.cache/entrylint/kernels)")
    ap.add_argument("--version", action="append", choices=VERSIONS + OPTIONAL,
                    help="which version(s); default: 6.1 and 6.12 (sid: Debian unstable's newest, when asked)")
    ap.add_argument("--build", action="store_true", help="also build the entry objects (make defconfig + entry_64.o)")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args(argv)
    cache = cache_dir(args.cache)
    status = 0
    for v in args.version or VERSIONS:
        try:
            fetch(v, cache)
        except subprocess.CalledProcessError as e:
            print(f"fetch-kernels: fetching linux-{v} failed: {' '.join(e.cmd)} exited {e.returncode}"
                  " (stale apt lists? run apt-get update)", file=sys.stderr)
            return 1
        except Unavailable as e:
            print(f"fetch-kernels: linux-{v} not fetched: {e}", file=sys.stderr)
            status = EXIT_NOT_AVAILABLE
            continue
        if args.build:
            try:
                build(v, cache, args.j)
            except subprocess.CalledProcessError as e:
                print(f"fetch-kernels: build of {v} failed: {' '.join(e.cmd)} exited {e.returncode}", file=sys.stderr)
                return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
