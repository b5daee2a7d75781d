"""Where the fetched kernel trees and builds live, and how tests skip without them.

The trees are made by ``python3 tools/fetch_kernels.py`` (``--build`` for the
objects) in a cache outside the repository: ``$ENTRYLINT_KERNEL_CACHE``, else
``~/.cache/entrylint/kernels``.  A tree counts only once fetch_kernels.py has
written its completion stamp, so a half-extracted tree is never used.

Plain functions, no pytest import at module level: conftest.py turns them into
fixtures, and tools or other tests may call them directly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

VERSIONS = ("6.1", "6.12")
OPTIONAL = ("sid",)  # today's kernel (Debian unstable's newest), only where fetched by hand
TREE_STAMP = ".entrylint-complete"
BUILD_STAMP = ".entrylint-built"
# What `make defconfig` + `make arch/x86/entry/entry_64.o` needs besides a C compiler.
BUILD_TOOLS = ("make", "gcc", "flex", "bison", "bc")
FETCH_HINT = "run python3 tools/fetch_kernels.py"


def kernel_cache() -> Path:
    """The cache folder; the same rule as tools/fetch_kernels.py's cache_dir()."""
    env = os.environ.get("ENTRYLINT_KERNEL_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "entrylint" / "kernels"


def tree_path(version: str) -> Path:
    return kernel_cache() / f"linux-{version}"


def build_path(version: str) -> Path:
    return kernel_cache() / f"build-{version}"


def tree_if_present(version: str) -> Path | None:
    p = tree_path(version)
    return p if (p / TREE_STAMP).is_file() else None


def build_if_present(version: str) -> Path | None:
    p = build_path(version)
    return p if (p / BUILD_STAMP).is_file() and (p / ".config").is_file() else None


def missing_build_tools() -> list[str]:
    return [t for t in BUILD_TOOLS if shutil.which(t) is None]


def tree_skip_reason(version: str) -> str | None:
    """None when the tree is there, else why a test needing it must skip."""
    if tree_if_present(version) is not None:
        return None
    return f"linux-{version} not fetched: {FETCH_HINT} (looked in {tree_path(version)})"


def build_skip_reason(version: str) -> str | None:
    """None when the build is there, else why a test needing it must skip."""
    if build_if_present(version) is not None:
        return None
    why = tree_skip_reason(version)
    if why is not None:
        return f"build-{version} absent because {why}"
    missing = missing_build_tools()
    tools = f"; missing build tools: {', '.join(missing)}" if missing else ""
    return (f"build-{version} not built: run python3 tools/fetch_kernels.py --build --version {version}"
            f" (looked in {build_path(version)}){tools}")


# --- the released trees of ../shared/kernels ---------------------------------
# arch/x86, include and the Kconfig files of nine released kernels (4.4 to 6.8),
# extracted once into the same cache ../shared/bin/kernel-survey uses, never
# into the repository.

SHARED_KERNELS = Path(__file__).resolve().parents[2] / "shared" / "kernels"
SHARED_STAMP = ".complete"  # the stamp kernel-survey writes too


def shared_cache() -> Path:
    env = os.environ.get("ENTRYLINT_SURVEY_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "entrylint" / "survey-kernels"


def shared_names() -> list[str]:
    """``linux-4.4.178`` ... in version order (empty when ../shared is absent)."""
    def key(name: str):
        return [int(x) if x.isdigit() else x for x in name.replace("-", ".").split(".")]
    return sorted((tb.name[: -len("-x86.tar.xz")] for tb in SHARED_KERNELS.glob("linux-*-x86.tar.xz")), key=key)


def shared_tree(name: str) -> Path | None:
    """The extracted tree ``name`` (e.g. ``linux-4.19.48``), extracting it on
    first use; None when its tarball is not there.  The test processes
    (pytest-xdist) ask at once: one extracts while the others wait on a
    lock, then find the stamp."""
    import fcntl
    import tarfile

    tb = SHARED_KERNELS / f"{name}-x86.tar.xz"
    dest = shared_cache() / name
    if (dest / SHARED_STAMP).exists():
        return dest
    if not tb.is_file():
        return None
    shared_cache().mkdir(parents=True, exist_ok=True)
    with open(shared_cache() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dest / SHARED_STAMP).exists():
            with tarfile.open(tb) as t:
                t.extractall(shared_cache(), filter="data")
            (dest / SHARED_STAMP).touch()
    return dest
