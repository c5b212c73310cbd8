"""A schedule as tasks on resources, and its closed form: each task starts at the latest of its
dependencies' ends (plus a lag) and its resources' frees, in issue order.

Resources are each core's array (``array<i>``), each core's channel to the shared memory level
(``chan<i>``) and the on-chip network (``noc``). A task holds each of its resources for its own
duration (a layer's body holds the arrays for ``max(compute, transfer)`` and the channels for
``transfer``). Resources serve tasks in the order they were issued; :mod:`accelsim.schedule.replay`
replays the same tasks with an event queue and must give the same start of every task.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One phase of one layer: what it holds, for how long, and what it waits for.

    ``holds`` pairs a resource with the cycles it is held from the task's start; ``after`` pairs a
    task index with a lag (the task starts at least ``lag`` cycles after that task ends).
    """

    layer: str
    phase: str
    holds: tuple[tuple[str, int], ...]
    after: tuple[tuple[int, int], ...] = ()

    @property
    def duration(self) -> int:
        return max((cycles for _, cycles in self.holds), default=0)


def closed_form(tasks: list[Task] | tuple[Task, ...]) -> list[int]:
    """The start cycle of every task: ``max(ends of its dependencies + lags, frees of its resources)``.

    Examples
    --------
    >>> closed_form([Task("a", "load", (("chan0", 5),)), Task("a", "body", (("array0", 7), ("chan0", 2)), ((0, 3),)),
    ...              Task("b", "load", (("chan0", 4),))])
    [0, 8, 10]
    """
    free: dict[str, int] = {}
    starts: list[int] = []
    ends: list[int] = []
    for task in tasks:
        start = issue(task, ends, free)
        starts.append(start)
        ends.append(start + task.duration)
    return starts


def issue(task: Task, ends: list[int], free: dict[str, int]) -> int:
    """The start of ``task`` after the tasks whose ``ends`` are given, its resources then taken until it
    releases them (``free`` is updated): the one step of :func:`closed_form`, which a schedule also takes
    one task at a time as it builds."""
    start = max([ends[i] + lag for i, lag in task.after] + [free.get(r, 0) for r, _ in task.holds] + [0])
    for resource, cycles in task.holds:
        free[resource] = start + cycles
    return start
