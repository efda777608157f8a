"""Declared analysis parameters: checked and coerced (form strings, JSON values) before a job is stored, the
refusals naming ``parameters.<name>``; undeclared analyses keep taking any keyword."""

from __future__ import annotations

import pytest

from portal.errors import Invalid
from portal.processing.analysis import Analysis, Parameter
from portal.processing.loader import load_analysis
from portal.processing.offers import columns_of


def test_defaults_are_filled_and_strings_coerced() -> None:
    assert load_analysis("dimuon").parameters == {"pair": "opposite charge"}
    assert load_analysis("adl_q4", min_jets="3", jet_pt_min="25.5").parameters == {"min_jets": 3, "jet_pt_min": 25.5}
    assert load_analysis("adl_q1").parameters == {}


@pytest.mark.parametrize(
    ("spec", "params", "field"),
    [
        ("dimuon", {"pair": "both"}, "parameters.pair"),
        ("dimuon", {"charge": "x"}, "parameters.charge"),
        ("adl_q4", {"min_jets": "2.5"}, "parameters.min_jets"),
        ("adl_q4", {"min_jets": 2.5}, "parameters.min_jets"),
        ("adl_q4", {"min_jets": -1}, "parameters.min_jets"),
        ("adl_q4", {"jet_pt_min": "nan"}, "parameters.jet_pt_min"),
        ("adl_q4", {"jet_pt_min": True}, "parameters.jet_pt_min"),
        ("adl_q3", {"max_abs_eta": 11}, "parameters.max_abs_eta"),
        ("adl_q1", {"anything": 1}, "parameters.anything"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(spec: str, params: dict, field: str) -> None:
    with pytest.raises(Invalid) as err:
        load_analysis(spec, **params)
    assert err.value.field == field


def test_booleans_from_a_form_and_undeclared_analyses() -> None:
    flag = Parameter("flag", "bool", False)
    assert flag.coerce("true") is True and flag.coerce("off") is False and flag.coerce(True) is True
    with pytest.raises(Invalid):
        flag.coerce("maybe")

    class Free(Analysis):
        name, columns = "free", ("x",)

    assert Free(anything=1).parameters == {"anything": 1}  # no declarations: passed through as before


def test_columns_are_read_from_each_formats_inspection() -> None:
    root = {"format": "root", "trees": {"Events": {"branches": {"nMuon": "int32_t", "Muon_pt": "float[]"}}}}
    assert columns_of(root) == ["nMuon", "Muon_pt"]
    assert columns_of({"format": "parquet", "columns": {"MET_pt": "float"}}) == ["MET_pt"]
    hdf5 = {"format": "hdf5", "datasets": {"Events/MET_pt": {}, "Other/x": {}}}
    assert columns_of(hdf5) == ["MET_pt"]
    assert columns_of(None) is None and columns_of({"format": "csv"}) is None


def test_the_single_file_apis_check_is_the_portals_with_its_message_ids() -> None:
    """One Parameter check: the API's (which analysis environments run, importing nothing of the portal) refuses with
    a message id and values; the portal's Parameter turns it into Invalid keeping them, so French still works."""
    from portal.processing import analysis_api

    api = analysis_api.Parameter("min_jets", "int", 2, minimum=0)
    with pytest.raises(analysis_api.ParameterError) as refused:
        api.coerce(2.5)  # no integer: refused rather than cut to 2
    assert str(refused.value) == "min_jets must be an integer, got 2.5" and refused.value.field == "parameters.min_jets"
    assert refused.value.template == "{name} must be an integer, got {value!r}"

    portal = Parameter("min_jets", "int", 2, minimum=0)
    assert isinstance(portal, analysis_api.Parameter) and portal.coerce("3") == api.coerce("3") == 3
    with pytest.raises(Invalid) as err:
        portal.coerce(-1)
    french = {"{name} must be at least {minimum:g}, got {number:g}": "{name} doit valoir au moins {minimum:g}"}
    assert err.value.field == "parameters.min_jets" and err.value.detail == "min_jets must be at least 0, got -1"
    assert err.value.localized_detail(lambda m: french.get(m, m)) == "min_jets doit valoir au moins 0"

    class Counting(Analysis):
        name, columns, params = "counting", ("x",), (portal,)

    with pytest.raises(Invalid) as unknown:
        Counting(cut=1)
    assert unknown.value.field == "parameters.cut" and unknown.value.template == (
        "analysis {name} has no parameter {unknown_0!r} (its parameters: {known})"
    )
    assert unknown.value.detail == "analysis counting has no parameter 'cut' (its parameters: min_jets)"
