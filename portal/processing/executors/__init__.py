"""Executors: where an analysis' tasks run. The interface is :class:`base.Executor`; the implementations
(``inline``, ``local``, ``remote`` and the doubles) are registered in the ``portal.executors`` entry-point group
and built by :mod:`portal.services`."""

from portal.processing.executors.base import Executor
from portal.processing.executors.pool import ExecutorPool

__all__ = ["Executor", "ExecutorPool"]
