"""Lessons: read from `<lessons_dir>/<slug>/lesson.yaml` (setting `lessons_dir`), turned into Lesson records,
previewed as HTML without running anything, and bundled into offline sample packs with a checksum manifest."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from zipstream import ZipStream

from portal import yamlfiles
from portal.catalog.markdown import render_markdown
from portal.catalog.model import RecordInput
from portal.errors import Invalid, NotFound
from portal.i18n import N_

REQUIRED = ("recid", "slug", "title", "level", "duration_minutes", "learning_goals", "notebook", "environment")
ENVIRONMENT_RECORDS = {"hep-analysis": 90005, "education": 90007}  # environment records of the demo catalogue


@dataclass(frozen=True)
class Lesson:
    folder: Path
    spec: dict[str, Any]

    @property
    def slug(self) -> str:
        return str(self.spec["slug"])

    @property
    def recid(self) -> int:
        return int(self.spec["recid"])

    @property
    def notebook(self) -> Path:
        return self.folder / self.spec["notebook"]

    @property
    def data(self) -> list[str]:
        return [str(d) for d in self.spec.get("data") or []]


def load_lessons(folder: Path) -> list[Lesson]:
    """Every lesson under ``folder``, validated: missing fields or files are named."""
    lessons = []
    for spec_path in sorted(folder.glob("*/lesson.yaml")):
        spec = _read_spec(spec_path)
        missing = [k for k in REQUIRED if k not in spec]
        if missing:
            raise Invalid(N_("missing {missing}"), missing=", ".join(missing), source=str(spec_path))
        lesson = Lesson(spec_path.parent, spec)
        _check_names(lesson, spec_path)
        for name in (spec["notebook"], "teacher-guide.md", "worksheet.md"):
            if not (lesson.folder / name).is_file():
                raise Invalid(N_("the lesson has no {name}"), name=name, source=str(spec_path))
        lessons.append(lesson)
    return lessons


def _read_spec(spec_path: Path) -> dict[str, Any]:
    """The mapping a lesson.yaml holds; Invalid naming the file (and the line, for YAML errors) otherwise."""
    try:
        spec = yamlfiles.load(spec_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise Invalid(
            N_("lesson.yaml is not UTF-8 text ({exc_reason} at byte {exc_start})"),
            exc_reason=exc.reason,
            exc_start=exc.start,
            source=str(spec_path),
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise Invalid(
            N_("lesson.yaml is not valid YAML{where}: {problem}"), where=where, problem=problem, source=str(spec_path)
        ) from None
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise Invalid(
            N_("lesson.yaml must hold a mapping of fields, not a {name}"),
            name=type(spec).__name__,
            source=str(spec_path),
        )
    return spec


def _check_names(lesson: Lesson, spec_path: Path) -> None:
    """The notebook and data files a lesson names stay inside its folder and the data directories: they end up
    as members of the offline pack and are read from disk, so `..`, absolute paths or glob characters would
    reach files nobody meant to publish."""
    notebook = lesson.spec["notebook"]
    if not isinstance(notebook, str) or not _plain_relative(notebook):
        raise Invalid(
            N_("notebook must be a relative path inside the lesson folder, got {notebook!r}"),
            notebook=notebook,
            source=str(spec_path),
        )
    data = lesson.spec.get("data") or []
    if not isinstance(data, list):
        raise Invalid(N_("data must be a list of file names, got {data!r}"), data=data, source=str(spec_path))
    for name in data:
        if not isinstance(name, str) or "/" in name or "\\" in name or not _plain_relative(name) or _GLOB & set(name):
            raise Invalid(
                N_("data must list plain file names (no folders or wildcards), got {name!r}"),
                name=name,
                source=str(spec_path),
            )


_GLOB = frozenset("*?[]")


def _plain_relative(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (
        bool(name) and not name.startswith("/") and "\x00" not in name and all(p not in ("", ".", "..") for p in parts)
    )


def find_lesson(slug: str, folder: Path) -> Lesson:
    for lesson in load_lessons(folder):
        if lesson.slug == slug:
            return lesson
    raise NotFound(N_("there is no lesson {slug!r}"), slug=slug, field="slug")


@dataclass(frozen=True)
class Lessons:
    """The lessons under ``folder`` and the analysis environments (``envs_dir``) they name; built from the
    settings `lessons_dir` and `envs_dir` in `portal/services.py`. Read on every call, so edits show at once."""

    folder: Path
    envs_dir: Path

    def all(self) -> list[Lesson]:
        """Every lesson, validated (:func:`load_lessons`); raises Invalid naming a broken one."""
        return load_lessons(self.folder)

    def find(self, slug: str) -> Lesson:
        """The lesson called ``slug``; raises NotFound."""
        return find_lesson(slug, self.folder)

    def pack(self, lesson: Lesson, data_dirs: list[Path], doi: str | None = None) -> LessonPack:
        """``lesson``'s offline pack (:func:`build_pack`) with its environment's requirements.txt."""
        requirements = self.envs_dir / str(lesson.spec["environment"]) / "requirements.txt"
        return build_pack(lesson, data_dirs, doi=doi, requirements=requirements)


def lesson_record(lesson: Lesson) -> RecordInput:
    """The Lesson record of ``lesson``, relating it to the datasets it uses and the environment it runs in."""
    spec = lesson.spec
    relations = [{"type": "references", "recid": str(r)} for r in spec.get("uses") or []]
    env = ENVIRONMENT_RECORDS.get(spec["environment"])
    if env:
        relations.append({"type": "requires", "recid": str(env)})
    metadata = {
        "recid": str(lesson.recid),
        "title": spec["title"],
        "type": {"primary": "Lesson", "secondary": ["Notebook"]},
        "date_published": str(spec.get("date_published", "2026-11-24")),
        "keywords": ["education", "lesson", *spec.get("topics", [])],
        "license": {"attribution": spec.get("license", "CC-BY-4.0")},
        "abstract": {"description": spec.get("summary", "")},
        "lesson": {
            "slug": lesson.slug,
            "level": spec["level"],
            "duration_minutes": int(spec["duration_minutes"]),
            "audience": list(spec.get("audience") or ["students", "teachers"]),
            "topics": list(spec.get("topics") or []),
            "prerequisites": list(spec.get("prerequisites") or []),
            "learning_goals": list(spec["learning_goals"]),
            "environment": spec["environment"],
            "notebook": spec["notebook"],
        },
        "relations": relations,
    }
    return RecordInput(metadata=metadata, source=str(lesson.folder / "lesson.yaml"))


def _lab_html(notebook: Any) -> Any:
    """The notebook rendered by nbconvert's JupyterLab template, parsed (an lxml document)."""
    import lxml.html
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return lxml.html.document_fromstring(html)


def preview_html(lesson: Lesson) -> str:
    """The notebook's cells as HTML, rendered as stored: nothing is executed.

    Only the cells, for a page of the portal to wrap: nbconvert's page carries inline styles and scripts (MathJax,
    require.js and mermaid from a CDN) that the portal's Content-Security-Policy refuses. Its styles are served as
    one stylesheet (:func:`preview_stylesheet`); its scripts and any script or style in the cells are dropped.
    """
    import lxml.html
    import nbformat

    document = _lab_html(nbformat.read(lesson.notebook, as_version=4))
    body = document.body
    _defuse(body)
    return "".join(lxml.html.tostring(child, encoding="unicode") for child in body)


#: elements of rendered cells that run code, load other pages or submit somewhere: never kept in a preview
_ACTIVE = ("script", "style", "iframe", "frame", "object", "embed", "applet", "form", "base", "meta", "link")
_URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "srcdoc")


def _defuse(body: Any) -> None:
    """Strip what a notebook's Markdown or HTML outputs could carry to run in the portal's origin: active
    elements, ``on*`` handlers and ``javascript:``/``data:`` URLs (the page's CSP refuses them as well; this
    keeps the preview clean for browsers or proxies that do not enforce it)."""
    for element in body.xpath(" | ".join(f".//{tag}" for tag in _ACTIVE)):
        element.drop_tree()
    for element in body.iter():
        if not isinstance(element.tag, str):
            continue
        for name in list(element.attrib):
            value = element.attrib[name].strip().lower()
            bare = name.lower().rsplit(":", 1)[-1]
            if bare.startswith("on") or (
                name.lower() in _URL_ATTRIBUTES
                and value.replace("\t", "").replace("\n", "").startswith(("javascript:", "vbscript:", "data:text"))
            ):
                del element.attrib[name]


@functools.cache
def preview_stylesheet() -> str:
    """The styles of nbconvert's JupyterLab page (the same for every notebook), as one stylesheet."""
    import nbformat

    document = _lab_html(nbformat.v4.new_notebook())
    styles = "\n".join(style.text or "" for style in document.head.xpath(".//style"))
    return styles + ACCESSIBLE_OVERRIDES


#: JupyterLab's light theme has syntax colours and a faded prompt below WCAG AA contrast (4.5:1) on a code cell's
#: grey (#f5f5f5): the same hues, darkened just enough (axe-core checks it, tests/browser/test_accessibility.py).
ACCESSIBLE_OVERRIDES = """
:root {
  --jp-mirror-editor-atom-color: #6161b7; --jp-mirror-editor-number-color: #007d00;
  --jp-mirror-editor-operator-color: #9f1fef; --jp-mirror-editor-comment-color: #3a7575;
  --jp-mirror-editor-meta-color: #9f1fef; --jp-mirror-editor-bracket-color: #6b6b53;
  --jp-mirror-editor-quote-color: #007d00; --jp-mirror-editor-error-color: #db0000;
  --jp-mirror-editor-hr-color: #6b6b6b; --jp-cell-prompt-not-active-opacity: 1;
}
"""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_file(name: str, data_dirs: list[Path]) -> Path:
    for folder in data_dirs:
        if folder.is_dir():
            for candidate in sorted(folder.rglob(name)):
                if candidate.is_file():
                    return candidate
    raise NotFound(
        N_("the data file {name} is not in the portal's data directory; run `portal data generate --tier small`"),
        name=name,
        field="data",
    )


@dataclass
class LessonPack:
    name: str
    stream: ZipStream
    members: dict[str, int]

    @property
    def size(self) -> int:
        return len(self.stream)


def build_pack(
    lesson: Lesson, data_dirs: list[Path], doi: str | None = None, requirements: Path | None = None
) -> LessonPack:
    """An offline pack: notebook, worksheet (Markdown and HTML), teacher guide, README, data, MANIFEST, and
    ``requirements`` (the lesson environment's requirements.txt, as :meth:`Lessons.pack` gives it) when it exists.

    Members are hashed before anything is sent, so the MANIFEST and the exact zip size are known up front.
    """
    worksheet = (lesson.folder / "worksheet.md").read_text(encoding="utf-8")
    worksheet_html = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Worksheet</title>'
        f'<body style="font-family:sans-serif;max-width:45rem;margin:auto">{render_markdown(worksheet)}'
        "</body></html>"
    )
    readme = (
        f"{lesson.spec['title']}\n\nLevel: {lesson.spec['level']}. Duration: {lesson.spec['duration_minutes']}"
        " minutes.\n\nTo run offline: install Python 3 and the packages in requirements.txt\n"
        "(pip install -r requirements.txt), then start Jupyter in this folder (jupyter lab) and open\n"
        f"{lesson.spec['notebook']}. The notebook reads its data from the data/ folder.\n"
        "Check the files with MANIFEST (sizes and SHA-256).\n"
        + (f"\nCite this lesson as https://doi.org/{doi}\n" if doi else "")
    )
    texts: dict[str, bytes] = {
        lesson.spec["notebook"]: lesson.notebook.read_bytes(),
        "worksheet.md": worksheet.encode(),
        "worksheet.html": worksheet_html.encode(),
        "teacher-guide.md": (lesson.folder / "teacher-guide.md").read_bytes(),
        "README.txt": readme.encode(),
    }
    if requirements is not None and requirements.is_file():
        texts["requirements.txt"] = requirements.read_bytes()
    files = {f"data/{name}": data_file(name, data_dirs) for name in lesson.data}
    digests = {name: (len(body), _sha256(body)) for name, body in texts.items()}
    for name, path in files.items():
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digests[name] = (path.stat().st_size, h.hexdigest())
    manifest = "# size  sha256  path\n" + "".join(
        f"{size}  {digest}  {name}\n" for name, (size, digest) in sorted(digests.items())
    )
    stream = ZipStream(sized=True)
    stream.add(manifest.encode(), arcname="MANIFEST")
    for name, body in texts.items():
        stream.add(body, arcname=name)
    for name, path in files.items():
        stream.add_path(str(path), arcname=name)
    return LessonPack(
        name=f"{lesson.slug}-pack.zip", stream=stream, members={name: size for name, (size, _d) in digests.items()}
    )
