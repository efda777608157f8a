"""Software records' analyses found by reading their files: every way a package declares them (manifest,
pyproject.toml, setup.cfg, a wheel's entry_points.txt), the classes described from their syntax tree (nothing is
imported), archives that cannot be read refused naming the file, and the unpacked install."""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from portal.errors import Invalid
from portal.processing import software

MODULE = b"""\
import this_would_fail_if_imported
from portal_analysis import Analysis, Parameter


class Base(Analysis):
    columns = ("nMuon", "Muon_pt")
    version = "2.0"


class Pt(Base):
    name = "pt"
    title: str = "Muon pT"
    main_hist = "pt"
    params = (Parameter("cut", "float", 1.5, maximum=100), Parameter(name="mode", kind="choice", default="a",
                                                                       choices=["a", "b"]))


class Dynamic(Analysis):
    columns = tuple(c for c in ("a", "b"))
"""


def _pkg(files: dict[str, bytes]) -> software.Package:
    return software.Package(files=dict(files), sha256="0" * 64)


def _tar(files: dict[str, bytes], prefix: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_a_git_archive_is_unpacked_and_its_pyproject_read() -> None:
    files = {
        "pyproject.toml": b'[project]\nname="x"\n[project.entry-points."portal.analyses"]\npt = "mu.ana:Pt"\n',
        "src/mu/__init__.py": b"",
        "src/mu/ana.py": MODULE,
        "tests/test_x.py": b"",
    }
    body = _tar(files, "mu-v2")
    pkg = software.read_package([{"key": "mu-v2.tar.gz", "uri": "u"}], lambda _uri: body)
    assert set(pkg.files) == set(files) and len(pkg.sha256) == 64
    assert software.entry_points(pkg) == {"pt": "mu.ana:Pt"}
    described = software.describe(pkg, "mu.ana:Pt")
    assert described["columns"] == ("nMuon", "Muon_pt") and described["version"] == "2.0"  # from its base
    assert described["title"] == "Muon pT" and described["main_hist"] == "pt"
    cut, mode = described["params"]
    assert (cut.name, cut.kind, cut.default, cut.maximum) == ("cut", "float", 1.5, 100)
    assert mode.choices == ("a", "b") and mode.coerce("b") == "b"
    assert "this_would_fail_if_imported" not in sys.modules


@pytest.mark.parametrize(
    "declaration",
    [
        {"portal-analyses.toml": b'[analyses.pt]\nentry = "mu.ana:Pt"\n'},
        {"setup.cfg": b"[options.entry_points]\nportal.analyses =\n    pt = mu.ana:Pt\n"},
        {"mu-1.0.dist-info/entry_points.txt": b"[portal.analyses]\npt = mu.ana:Pt\n"},
    ],
)
def test_a_manifest_setup_cfg_or_wheel_metadata_declares_them_too(declaration: dict[str, bytes]) -> None:
    pkg = _pkg({**declaration, "mu/__init__.py": b"", "mu/ana.py": MODULE})
    assert software.entry_points(pkg) == {"pt": "mu.ana:Pt"}


def test_classes_without_literal_columns_or_missing_are_refused_by_name() -> None:
    pkg = _pkg({"mu/ana.py": MODULE})
    with pytest.raises(Invalid, match="columns must be written as a literal"):
        software.describe(pkg, "mu.ana:Dynamic")
    with pytest.raises(Invalid, match="no attribute 'Nope'"):
        software.describe(pkg, "mu.ana:Nope")
    with pytest.raises(Invalid, match="no module 'other.ana'"):
        software.describe(pkg, "other.ana:Pt")
    with pytest.raises(Invalid, match="must be 'module:Class'"):
        software.entry_points(_pkg({"portal-analyses.toml": b'[analyses.pt]\nentry = "mu.ana"\n'}))


def test_unreadable_archives_are_refused_naming_the_file() -> None:
    with pytest.raises(Invalid, match="cannot read the archive broken.tar.gz"):
        software.read_package([{"key": "broken.tar.gz", "uri": "u"}], lambda _uri: b"not gzip")
    with pytest.raises(Invalid, match="cannot read the archive broken.whl"):
        software.read_package([{"key": "broken.whl", "uri": "u"}], lambda _uri: b"not a zip")


def test_members_escaping_the_tree_are_left_out() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil.py", b"x")
        zf.writestr("/abs.py", b"x")
        zf.writestr("mu/ana.py", MODULE)
    body = buf.getvalue()
    pkg = software.read_package([{"key": "mu.zip", "uri": "u"}], lambda _uri: body)
    assert set(pkg.files) == {"mu/ana.py"}


def test_install_unpacks_only_the_analysis_package_with_its_entry_points(tmp_path: Path) -> None:
    pkg = _pkg({"pyproject.toml": b"", "src/mu/__init__.py": b"", "src/mu/ana.py": MODULE, "setup.py": b"boom"})
    site = software.install(pkg, ["mu.ana:Pt"], tmp_path / "site")
    names = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert "mu/ana.py" in names and "setup.py" not in names and "pyproject.toml" not in names
    points = next(site.glob("*.dist-info")) / "entry_points.txt"
    assert "mu.ana:Pt" in points.read_text()
    assert software.install(pkg, ["mu.ana:Pt"], tmp_path / "site") == site  # once per package digest


def test_job_names_of_software_analyses() -> None:
    assert software.parse_spec("pt@1234") == ("pt", 1234)
    assert software.parse_spec("dimuon") is None and software.parse_spec("pt@x") is None
    assert software.parse_spec("mod:Class") is None


def test_an_archive_unpacking_past_the_limit_is_refused_before_unpacking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(software, "MAX_PACKAGE_BYTES", 1000)
    body = _tar({"pyproject.toml": b"", "mu/big.py": b"#" * 2000}, "mu-1")
    with pytest.raises(Invalid, match="unpacks to more than"):
        software.read_package([{"key": "mu-1.tar.gz", "uri": "u"}], lambda _uri: body)


def test_records_without_a_package_like_file_are_not_read() -> None:
    assert software.may_hold_package("mu-v1.tar.gz") and software.may_hold_package("mu-1.0-py3-none-any.whl")
    assert software.may_hold_package("pyproject.toml") and software.may_hold_package("analyses.py")
    assert not software.may_hold_package("paper.pdf") and not software.may_hold_package("events.root")
