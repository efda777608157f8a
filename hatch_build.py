"""Wheel build hook: ships the checkout's lessons and analysis environments as package data under portal/_data/,
and the compiled translations (.mo, never committed) next to their .po sources.

An installed wheel finds them there (the defaults of the settings `lessons_dir` and `envs_dir`, portal/settings.py).
Editable installs get no copy: they read the checkout's own directories, so nothing can go stale (`make install`
compiles their .mo files).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# checkout directory -> its place in the wheel
CONTENT = {
    "education/lessons": "portal/_data/education/lessons",
    "analysis_envs": "portal/_data/analysis_envs",
}
TRANSLATIONS = "portal/translations"


def compile_translations(root: Path, into: Path) -> dict[str, str]:
    """Each language's messages.po compiled into ``into``: {compiled file: its place in the wheel}."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    placed = {}
    for po in sorted((root / TRANSLATIONS).glob("*/LC_MESSAGES/messages.po")):
        relative = po.relative_to(root).with_suffix(".mo")
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source, target.open("wb") as out:
            write_mo(out, read_po(source, locale=po.parts[-3]))
        placed[str(target)] = relative.as_posix()
    return placed


class ContentHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"].update(CONTENT)
            self._compiled = tempfile.TemporaryDirectory()
            build_data["force_include"].update(compile_translations(Path(self.root), Path(self._compiled.name)))

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        compiled = getattr(self, "_compiled", None)
        if compiled is not None:
            compiled.cleanup()
