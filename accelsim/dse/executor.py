"""Run independent tasks serially, in a pool of local processes, or on a Dask cluster.

One generator, :func:`run_tasks`, for the three ways ``accelsim dse`` evaluates design points. It
yields ``(index, result)`` as results complete, so the caller (the one process that writes the
store) saves each result at once. Every backend calls ``setup(*setup_args)`` at most once per
worker process, before that worker's first task, and re-raises a task's exception here.

Dask and distributed are imported only when a scheduler is given: ``import accelsim.dse`` stays
light and works without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, Self

from ..errors import AccelsimError

if TYPE_CHECKING:
    from distributed import Client

CONNECT_TIMEOUT_S = 5  # an unreachable scheduler is reported after this long, never a hang


class ClusterError(AccelsimError):
    """The Dask scheduler cannot be used: unreachable, not a scheduler, or dask is not installed."""


def run_tasks(fn: Callable[[Any], Any], tasks: Iterable[Any], *, jobs: int = 1, scheduler: str | None = None,
              setup: Callable[..., None] | None = None, setup_args: tuple = ()) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(task))`` for every task, as each completes (in any order).

    Parameters
    ----------
    fn
        A module-level (picklable) function of one task. Tasks must be idempotent: a Dask worker
        may run one twice.
    tasks
        The tasks; ``index`` counts them from 0. To send work to Dask, make each task a batch.
    jobs
        Without ``scheduler``: 1 runs here, in order; more runs a spawned pool of that many
        processes, which ignore Ctrl-C (this process handles it and stops them).
    scheduler
        A Dask scheduler address, e.g. ``"tcp://host:8786"``: run on that cluster (``jobs`` is
        ignored). The cluster is not started or stopped here.
    setup
        A module-level function called as ``setup(*setup_args)`` once in each worker process
        (here, for serial runs) before its first task, e.g. to load a workload into a global.
    setup_args
        Picklable arguments of ``setup``.

    Raises
    ------
    ClusterError
        ``scheduler`` cannot be reached within a few seconds, is not a Dask scheduler, or
        dask/distributed is not installed.
    Exception
        Whatever a task (or ``setup``) raised.

    Notes
    -----
    Stopping early (``close()`` on the generator, an exception or Ctrl-C) cancels the pending
    tasks, stops the pool's processes and closes the Dask client. Close the generator explicitly
    (``with contextlib.closing(run_tasks(...)) as results:``) rather than leave it to garbage
    collection. With no tasks nothing is started.

    Examples
    --------
    >>> sorted(run_tasks(abs, [-2, 3, -5]))
    [(0, 2), (1, 3), (2, 5)]
    """
    tasks = list(tasks)
    if not tasks:
        return
    if scheduler is None and len(tasks) == 1:  # one task is not worth starting a process
        jobs = 1
    with Executor(jobs=min(jobs, len(tasks)), scheduler=scheduler, setup=setup, setup_args=setup_args) as ex:
        yield from ex.run(fn, tasks)


class Executor:
    """Workers kept across several batches of tasks: a pool of processes, a Dask client, or this process.

    :func:`run_tasks` is one batch; an optimiser that asks for a generation at a time keeps one
    ``Executor`` so its workers (and whatever ``setup`` loaded into them, e.g. caches) live for the
    whole run. Use it as a context manager: leaving it normally waits for the workers to finish;
    leaving it by an exception (Ctrl-C included) stops them at once.

    Examples
    --------
    >>> with Executor() as ex:
    ...     sorted(ex.run(abs, [-1, 2])), sorted(ex.run(abs, [-3]))
    ([(0, 1), (1, 2)], [(0, 3)])
    """

    def __init__(self, *, jobs: int = 1, scheduler: str | None = None, setup: Callable[..., None] | None = None,
                 setup_args: tuple = ()):
        self.jobs, self.scheduler, self.setup, self.setup_args = jobs, scheduler, setup, setup_args
        self.token = uuid.uuid4().hex  # setup runs once per worker per Executor
        self._pool: ProcessPoolExecutor | None = None
        self._client: Client | None = None
        self._set_up_here = False
        self._stopped_early = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(stop_now=kind is not None)

    def run(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Generator[tuple[int, Any]]:
        """Yield ``(index, fn(task))`` for every task as it completes (see :func:`run_tasks`)."""
        tasks = list(tasks)
        if not tasks:
            return
        if self.scheduler is not None:
            yield from self._run_dask(fn, tasks, self.scheduler)
        elif self.jobs <= 1:
            if self.setup is not None and not self._set_up_here:
                self.setup(*self.setup_args)
                self._set_up_here = True
            for index, task in enumerate(tasks):
                yield index, fn(task)
        else:
            yield from self._run_pool(fn, tasks)

    def _run_pool(self, fn, tasks: list) -> Iterator[tuple[int, Any]]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn"),
                                             initializer=_ignore_sigint)
        futures = {self._pool.submit(_call_after_setup, task, fn, self.setup, self.setup_args, self.token): index
                   for index, task in enumerate(tasks)}
        finished_all = False
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
            finished_all = True
        finally:
            if not finished_all:  # running tasks are not worth waiting for (they are idempotent)
                for future in futures:
                    future.cancel()
                self._stopped_early = True

    def _run_dask(self, fn: Callable[[Any], Any], tasks: list, scheduler: str) -> Iterator[tuple[int, Any]]:
        try:
            from distributed import Client
            from distributed import as_completed as dask_as_completed
        except ImportError:
            raise ClusterError(f"--scheduler {scheduler}: needs dask and distributed: "
                               "pip install 'accelsim[dse]'") from None
        if self._client is None:
            self._client = _connect(Client, scheduler)
        client = self._client
        futures = client.map(_call_after_setup, tasks, fn=fn, setup=self.setup, setup_args=self.setup_args,
                             token=self.token, pure=False)
        finished_all = False
        try:
            index = {future.key: i for i, future in enumerate(futures)}
            # a batch of finished futures is gathered in one round trip (with_results=True costs one per task)
            for batch in dask_as_completed(futures, loop=client.loop).batches():
                yield from zip((index[future.key] for future in batch), client.gather(batch))
            finished_all = True
        finally:
            if not finished_all:
                client.cancel(futures)

    def close(self, *, stop_now: bool = False) -> None:
        """Release the workers: wait for them, or (``stop_now``, or a batch stopped early) stop them."""
        pool, self._pool = self._pool, None
        if pool is not None:
            if stop_now or self._stopped_early:
                # Like 3.14's terminate_workers(). Only signal here: the pool's own thread sees its
                # workers die and joins them (a second thread waiting on the same pids races it and
                # leaves multiprocessing believing a reaped worker is still running).
                for process in list((pool._processes or {}).values()):
                    with contextlib.suppress(OSError):
                        process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
            else:
                pool.shutdown(wait=True)
        client, self._client = self._client, None
        if client is not None:
            client.close()


# Setup once per worker process. Pool and Dask workers run each task through `_call_after_setup`,
# which calls `setup` the first time the process sees this run's token (a fresh uuid per
# `run_tasks` call) and then `fn`. Why this rather than a pool initializer or a Dask WorkerPlugin:
# - setup runs in the thread about to run the task, under a lock, so it precedes the worker's first
#   task on every worker, including ones that join or are restarted mid-run (a fresh process has
#   no token, so it sets up again);
# - an exception in setup is re-raised here like any task's (a failing pool initializer only
#   breaks the pool with "a child process terminated abruptly"; a plugin's error is logged on the
#   worker);
# - nothing is left on the cluster, which is not ours: a WorkerPlugin stays registered on the
#   scheduler (and re-runs on every later worker) unless we unregister it, which a killed
#   coordinator never does; and a plugin's setup blocks the worker's event loop, heartbeats included;
# - a token per call rather than a digest of setup_args: a second run with the same arguments
#   (e.g. the same workload name after its file changed) sets up again instead of reusing state.
# The cost is sending setup_args with every task: keep them small (names, dicts); tasks are batches.
_setup_lock = threading.Lock()
_setup_token: str | None = None


def _call_after_setup(task: Any, fn: Callable[[Any], Any], setup: Callable[..., None] | None,
                      setup_args: tuple, token: str) -> Any:
    global _setup_token
    if setup is not None and _setup_token != token:
        with _setup_lock:
            if _setup_token != token:
                setup(*setup_args)
                _setup_token = token
    return fn(task)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C and stops us
    _die_with_parent()


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this worker when the coordinator dies, even by SIGKILL (which
    no handler sees): otherwise the pool's workers would run on as orphans."""
    import ctypes
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _connect(client_class: type[Client], scheduler: str) -> Client:
    """A connected ``distributed.Client``, or a one-line ClusterError within a few seconds."""
    # Built in two steps so that a failed __init__ still leaves us a client to close: for some
    # failures (a port that answers but is not a scheduler) distributed does not close it itself,
    # and its __del__ then stalls for seconds and prints a traceback at exit.
    client = None
    try:
        _handshake(scheduler)
        client = client_class.__new__(client_class)
        client_class.__init__(client, scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except Exception as error:  # noqa: BLE001 - whatever went wrong, the user gets one line
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=1)
        # OSError: refused or timed out; ValueError: a malformed address; TypeError: TLS not set up;
        # anything else (e.g. a MemoryError from reading an HTTP reply as a frame length): not Dask.
        reason = "no Dask scheduler answered there"
        if isinstance(error, (OSError, ValueError, TypeError)):
            reason = (str(error).strip().splitlines() or [f"no answer within {CONNECT_TIMEOUT_S} s"])[0]
        raise ClusterError(f"cannot use the Dask scheduler at {scheduler}: {reason}") from None
    return client


def _reachable(scheduler: str) -> None:
    """An OSError saying why a ``tcp://host:port`` scheduler cannot be reached: a refused connection at once
    (distributed would retry it for the whole timeout and then say it timed out), silence after the timeout."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if address.scheme != "tcp" or not address.hostname or address.port is None:
        return  # TLS, in-process and other schemes: distributed says what is wrong with them
    try:
        socket.create_connection((address.hostname, address.port), timeout=CONNECT_TIMEOUT_S).close()
    except ConnectionRefusedError:
        raise OSError("connection refused (nothing listens on that port)") from None
    except TimeoutError:
        raise OSError(f"no answer within {CONNECT_TIMEOUT_S} s") from None


def _handshake(scheduler: str) -> None:
    """Connect to ``scheduler`` and exchange handshakes once, within CONNECT_TIMEOUT_S.

    The Client's own timeout does not cover the handshake: a port that accepts connections but
    never answers (a silent service, a stuck proxy) would hang ``Client()`` for ever.
    """
    from distributed.comm import connect
    from distributed.security import Security

    _reachable(scheduler)
    args = Security().get_connection_args("client")  # TLS settings from the dask config, as Client()

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(scheduler, timeout=CONNECT_TIMEOUT_S, **args), CONNECT_TIMEOUT_S)
        await comm.close()

    # in a thread of its own, so that a caller's running event loop (e.g. Jupyter's) is not in the way
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(lambda: asyncio.run(handshake())).result()
