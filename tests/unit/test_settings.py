"""Settings: declared once, read from PORTAL_* variables, and the README table generated from them."""

from pathlib import Path

import pytest

import portal.settings
from portal.demo import RECORDS
from portal.errors import Invalid
from portal.settings import DECLARATIONS, load_settings, replace_readme_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_resolved_and_derived(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.port == 5000
    assert s.var_dir == str(tmp_path / "var")
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'portal.sqlite'}"


def test_environment_overrides_and_types():
    s = load_settings(
        environ={"PORTAL_PORT": "8080", "PORTAL_API_EXPAND_FILE_INDICES": "no", "PORTAL_VAR_DIR": "/srv/portal"}
    )
    assert s.port == 8080 and s.api_expand_file_indices is False
    assert s.database_url == "sqlite:////srv/portal/portal.sqlite"


def test_explicit_overrides_win_over_environment():
    assert load_settings({"port": 1234}, environ={"PORTAL_PORT": "8080"}).port == 1234


def test_bad_value_names_the_variable():
    with pytest.raises(Invalid, match="PORTAL_PORT"):
        load_settings(environ={"PORTAL_PORT": "eighty"})


def test_unknown_override_is_refused():
    with pytest.raises(Invalid, match="unknown setting"):
        load_settings({"no_such_setting": 1}, environ={})


def test_the_retired_curator_token_is_refused_with_the_way_out():
    for overrides, environ in (({"curator_token": "t"}, {}), ({}, {"PORTAL_CURATOR_TOKEN": "t"})):
        with pytest.raises(Invalid, match="retired.*portal tokens create") as err:
            load_settings(overrides, environ=environ)
        assert err.value.field == "PORTAL_CURATOR_TOKEN"


def test_every_setting_has_help_and_a_unique_name():
    names = [s.name for s in DECLARATIONS]
    assert len(names) == len(set(names))
    assert all(s.help.strip() for s in DECLARATIONS)


def test_readme_settings_table_is_current():
    text = README.read_text(encoding="utf-8")
    assert replace_readme_table(text) == text, "run: portal settings --update-readme README.md"


def test_content_directories_default_to_the_checkout():
    root = README.parent
    s = load_settings(environ={})
    assert s.lessons_dir == str(root / "education" / "lessons")
    assert s.envs_dir == str(root / "analysis_envs")
    assert s.demo_records_dir == str(root / "portal" / "demo" / "records")


def test_content_directories_default_to_the_copies_an_installed_wheel_carries(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "portal"
    for shipped in ("education/lessons", "analysis_envs"):
        (package / "_data" / shipped).mkdir(parents=True)
    monkeypatch.setattr(portal.settings, "PACKAGE_DIR", package)
    s = load_settings(environ={})
    assert s.lessons_dir == str(package / "_data" / "education" / "lessons")
    assert s.envs_dir == str(package / "_data" / "analysis_envs")
    assert s.demo_records_dir == str(RECORDS)  # package data of portal.demo, wherever that is
    assert load_settings(environ={"PORTAL_LESSONS_DIR": "/srv/lessons"}).lessons_dir == "/srv/lessons"


def test_password_hashes_cost_what_argon2_recommends_unless_the_suite_lowers_it():
    from argon2 import PasswordHasher

    from portal.identity.users import password_hasher

    s = load_settings(environ={})
    production = password_hasher(s.password_hash_time_cost, s.password_hash_memory_kib)
    default = PasswordHasher()  # argon2-cffi's defaults: RFC 9106's low-memory profile
    assert (production.time_cost, production.memory_cost, production.parallelism) == (
        default.time_cost,
        default.memory_cost,
        default.parallelism,
    )
    for field, costs in (("PORTAL_PASSWORD_HASH_TIME_COST", (0, 65536)), ("PORTAL_PASSWORD_HASH_MEMORY_KIB", (3, 31))):
        with pytest.raises(Invalid, match="must be at least") as err:
            password_hasher(*costs)
        assert err.value.field == field
