"""Systems of cores over time: layer partitions, overlapped schedules, their event replay and timelines.

See ``docs/multicore.md``. :func:`run_system` is the entry point.
"""

from .schedule import LayerTiming, SystemResult, run_system

__all__ = ["LayerTiming", "SystemResult", "run_system"]
