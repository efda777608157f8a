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
