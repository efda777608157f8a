"""Built-in analyses: the CMS dimuon spectrum (ROOT df102) and the IRIS-HEP ADL benchmark queries 1–8."""

from __future__ import annotations

from portal.processing.analyses.adl import ADL_QUERIES
from portal.processing.analyses.dimuon import DimuonSpectrum
from portal.processing.analysis import Analysis

BUILTINS: dict[str, type[Analysis]] = {DimuonSpectrum.name: DimuonSpectrum, **{q.name: q for q in ADL_QUERIES}}
