"""Parallel event processing: run an analysis over a dataset's files as Dask tasks and merge the results."""

from portal.processing.analysis import Analysis, Output, load_analysis
from portal.processing.engine import BadFile, Chunk, RunResult, plan_chunks, run_analysis
from portal.processing.executors import make_executor

__all__ = ["Analysis", "BadFile", "Chunk", "Output", "RunResult", "load_analysis", "make_executor", "plan_chunks",
           "run_analysis"]
