"""Wheel build hook: ships the checkout's lessons and analysis environments as package data under portal/_data/.

An installed wheel finds them there (the defaults of the settings `lessons_dir` and `envs_dir`, portal/settings.py).
Editable installs get no copy: they read the checkout's own directories, so nothing can go stale.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# checkout directory -> its place in the wheel
CONTENT = {
    "education/lessons": "portal/_data/education/lessons",
    "analysis_envs": "portal/_data/analysis_envs",
}


class ContentHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"].update(CONTENT)
