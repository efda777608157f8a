"""Parallel event processing: run an analysis over a dataset's files as Dask tasks and merge the results."""

from portal.processing.analysis import Analysis, Output
from portal.processing.engine import BadFile, Chunk, RunResult, Task, plan_chunks, plan_tasks, run_analysis
from portal.processing.executors import Executor
from portal.processing.loader import load_analysis

__all__ = [
    "Analysis",
    "BadFile",
    "Chunk",
    "Executor",
    "Output",
    "RunResult",
    "Task",
    "load_analysis",
    "plan_chunks",
    "plan_tasks",
    "run_analysis",
]
