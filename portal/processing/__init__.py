"""Parallel event processing: run an analysis over a dataset's files as Dask tasks and merge the results."""

from portal.processing.analysis import Analysis, Output
from portal.processing.engine import BadFile, Chunk, RunResult, Task, plan_chunks, plan_tasks, run_analysis
from portal.processing.executors import make_executor
from portal.processing.loader import load_analysis

__all__ = [
    "Analysis",
    "BadFile",
    "Chunk",
    "Output",
    "RunResult",
    "Task",
    "load_analysis",
    "make_executor",
    "plan_chunks",
    "plan_tasks",
    "run_analysis",
]
