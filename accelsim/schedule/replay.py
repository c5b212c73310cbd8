"""A small discrete-event replay of a schedule's tasks: the oracle for its closed form.

Time jumps from event to event (a task ends, or a lag expires). Each resource keeps a queue of
the tasks that hold it, in issue order; a task starts when it heads the queue of every resource
it holds, each of those resources is idle, and every dependency has ended at least its lag ago.
It also checks what the closed form takes for granted: no resource is ever held by two tasks.

Examples
--------
>>> from accelsim.schedule.tasks import Task, closed_form
>>> tasks = [Task("a", "load", (("chan0", 5),)), Task("a", "body", (("array0", 7), ("chan0", 2)), ((0, 3),))]
>>> replay(tasks) == closed_form(tasks)
True
"""

from __future__ import annotations

import heapq
from collections import deque

from .tasks import Task


def replay(tasks: list[Task] | tuple[Task, ...]) -> list[int]:
    """The start cycle of every task, found by simulating events."""
    queues: dict[str, deque[int]] = {}
    for i, task in enumerate(tasks):
        for resource, _ in task.holds:
            queues.setdefault(resource, deque()).append(i)
    busy_until: dict[str, int] = dict.fromkeys(queues, 0)
    holder: dict[str, int | None] = dict.fromkeys(queues, None)
    starts: list[int | None] = [None] * len(tasks)
    ends: list[int | None] = [None] * len(tasks)
    events: list[int] = [0]
    now = 0
    pending = set(range(len(tasks)))
    while pending:
        if not events:
            raise RuntimeError("replay deadlocked: a task waits for a resource that never frees")
        now = heapq.heappop(events)
        for resource, until in busy_until.items():  # release what has finished
            if holder[resource] is not None and until <= now:
                holder[resource] = None
        progressed = True
        while progressed:
            progressed = False
            for i in sorted(pending):
                task = tasks[i]
                ready = all(ends[d] is not None and ends[d] + lag <= now for d, lag in task.after)  # type: ignore
                if not ready:
                    continue
                if not all(queues[r][0] == i and holder[r] is None for r, _ in task.holds):
                    continue
                starts[i], ends[i] = now, now + task.duration
                for resource, cycles in task.holds:
                    queues[resource].popleft()
                    if cycles:
                        holder[resource], busy_until[resource] = i, now + cycles
                        heapq.heappush(events, now + cycles)
                    # a zero-cycle hold passes the resource on at once
                heapq.heappush(events, now + task.duration)
                for j in pending:  # dependants' lags expire at fixed times
                    for dep, lag in tasks[j].after:
                        if dep == i:
                            heapq.heappush(events, ends[i] + lag)  # type: ignore[operator]
                pending.discard(i)
                progressed = True
                break
    return [s for s in starts if s is not None]
