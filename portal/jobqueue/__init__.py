"""Durable background work: jobs are database rows claimed by `portal worker` processes (see ``base.py`` for the
queue's contract, ``kinds.py`` for the kinds of task a worker runs, ``worker.py`` for the worker)."""
