"""A launched lesson's working directory: the notebook and worksheet to work in, the data reachable in place.

The data files are linked, never copied: the session reads the portal's own copies (and the ROOT file over
`root://` when XRootD serves the data), so launching a lesson costs no disk and no transfer.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from portal.education.lessons import Lesson, data_file

Prepare = Callable[[Path], dict[str, str]]


def check_lesson_data(lesson: Lesson, data_dirs: list[Path]) -> list[Path]:
    """The lesson's data files in the portal's data directory; a missing one raises NotFound naming it."""
    return [data_file(name, data_dirs) for name in lesson.data]


def lesson_workspace(
    lesson: Lesson, data_dirs: list[Path], *, portal_url: str, root_url: Callable[[Path], str | None] | None = None
) -> Prepare:
    """A ``prepare`` for :meth:`portal.launch.base.Launcher.launch` that seeds a session's directory with ``lesson``."""

    def prepare(workdir: Path) -> dict[str, str]:
        sources = check_lesson_data(lesson, data_dirs)
        for name in (str(lesson.spec["notebook"]), "worksheet.md"):
            target = workdir / name
            if not target.exists():  # a relaunch keeps the student's edited notebook
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(lesson.folder / name, target)
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        env = {"LESSON_DATA": str(data), "LESSON_SLUG": lesson.slug, "PORTAL_URL": portal_url.rstrip("/")}
        if lesson.spec.get("uses"):
            env["LESSON_DATASET"] = str(lesson.spec["uses"][0])
        for source in sources:
            link = data / source.name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(source.resolve())
            url = root_url(source) if root_url is not None and source.suffix == ".root" else None
            if url and "LESSON_ROOT_FILE" not in env:
                env["LESSON_ROOT_FILE"] = url
        return env

    return prepare
