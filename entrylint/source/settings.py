"""The configuration file: ``[tool.entrylint]`` in pyproject.toml or the top
level of ``.entrylint.toml``, found in the working folder or above it.

    [tool.entrylint]
    select = ["EL2", "swapgs-cr3-order"]
    ignore = ["EL303"]
    profile = "max"
    fail-on = "warning"

    [tool.entrylint.rules.live-scratch]     # options of one rule, by slug
    ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEYS = {"select", "ignore", "profile", "fail-on", "root", "rules", "contracts", "baseline"}


class SettingsError(Exception):
    pass


@dataclass
class Settings:
    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default=None):
        return self.values.get(key, default)


def find_settings(start: Path) -> Settings:
    d = start.resolve()
    for cand in (d, *d.parents):
        for name in (".entrylint.toml", "pyproject.toml"):
            p = cand / name
            if p.is_file():
                s = load(p)
                if s is not None:
                    return s
    return Settings()


def load(path: Path) -> Settings | None:
    # (imported here: most trees have no settings file, and a check of one
    # file should not pay for the parser)
    try:  # Python 3.11+
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SettingsError(f"{path}: {e}") from e
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("entrylint")
        if data is None:
            return None
    unknown = set(data) - KEYS
    if unknown:
        raise SettingsError(f"{path}: unknown entrylint setting(s): {', '.join(sorted(unknown))}")
    return Settings(path, data)
