"""Worker processes for replications: bounded, interruptible and robust to dying workers.

:func:`run_pooled` runs a task over consecutive chunks of the replications ``0 … R−1``
in a process pool and hands each chunk's results to a callback. What it guarantees:

* **Bounded memory.** Chunks are submitted in a sliding window of a few per worker;
  nothing is built for replications that are not yet running, so ``R = 10⁹`` costs no
  more memory up front than ``R = 10``.
* **Ctrl-C at any moment** (also while workers start) raises in the calling process
  only: workers ignore SIGINT (it is blocked while they are created, so none can
  receive it before it is ignored) and are terminated when the run is interrupted or
  fails, so no traceback comes from a worker and no worker outlives the run.
* **A worker that dies** (killed, out of memory, a crash in native code: Python's
  ``BrokenProcessPool``) is replaced by a new pool. The replications that were running
  when it died are retried one per task; if a worker dies again, those then running are
  run alone, one at a time, so a replication that kills its worker is told from those
  that happened to run beside it. Only a replication whose worker dies when it runs
  alone is reported as failed (:class:`WorkerError`); every other replication's result
  is identical to an uninterrupted run.

On Linux, workers are started with ``fork``: they do not re-import the ``__main__``
module, so a script that calls :func:`crmsim.experiment.run_replications` with several
workers needs no ``if __name__ == "__main__":`` guard. Elsewhere (macOS, Windows) the
``spawn`` method is used, which re-imports the main module in every worker: a script
must then keep its top-level code under that guard (Python's own rule).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import Any

__all__ = [
    "WorkerError",
    "WorkersCappedWarning",
    "available_cores",
    "deferred_sigint",
    "resolve_workers",
    "run_pooled",
]

#: Chunks in flight per worker: enough to keep every worker busy while results are
#: collected, few enough that memory does not grow with the number of replications.
WINDOW_PER_WORKER = 2

#: New pools in a row that may die before finishing any task before the run gives up
#: (workers that cannot run at all, rather than one replication that kills its worker).
MAX_BARREN_POOLS = 3


class WorkersCappedWarning(UserWarning):
    """More worker processes were asked for than this machine has cores."""


class WorkerError(RuntimeError):
    """Worker processes died and some replications could not be run.

    Attributes
    ----------
    replications : list of int
        The replications whose worker died even when each ran alone (empty when the
        workers could not run at all).
    seed : int or None
        The root seed: replication ``r`` is reproduced alone with
        ``crmsim.engine.simulate(scenario, seed=seed, replication=r)``.
    """

    def __init__(self, message: str, replications: Sequence[int] = (), seed: int | None = None):
        super().__init__(message)
        self.replications = list(replications)
        self.seed = seed


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity, where known).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_workers(workers: int | None) -> tuple[int, str | None]:
    """The number of worker processes to start, and a warning when it was capped.

    Parameters
    ----------
    workers : int or None
        Worker processes asked for; None means one per available core.

    Returns
    -------
    n : int
        At least 1 and at most :func:`available_cores`.
    warning : str or None
        Why ``n`` is less than ``workers``, or None.

    Examples
    --------
    >>> resolve_workers(1)
    (1, None)
    >>> n, why = resolve_workers(10_000)
    >>> n == available_cores() and why.startswith("10000 worker processes asked for")
    True
    """
    cores = available_cores()
    if workers is None:
        return cores, None
    n = max(1, int(workers))
    if n > cores:
        return cores, (
            f"{n} worker processes asked for, but this machine has {cores} "
            f"core{'s' if cores != 1 else ''}: using {cores}"
        )
    return n, None


@contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block is done; then deliver it.

    Used around steps that must not be cut in half: starting worker processes (which
    inherit the blocked signal, so they can ignore it before it ever reaches them) and
    swapping a results folder into place. Outside the main thread, or where signals are
    not supported, the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    caught: list[Any] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append(frame)

    signal.signal(signal.SIGINT, hold)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, caught[0])
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


def _worker_init() -> None:
    """In each worker: ignore Ctrl-C (the parent handles it), then let signals in."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _context() -> BaseContext:
    # fork: workers do not re-import __main__ (scripts need no guard) and start fast;
    # they only run crmsim code, which starts no threads and takes no locks at import.
    return get_context("fork" if sys.platform.startswith("linux") else "spawn")


class _Pool:
    """One process pool; :meth:`drain` runs tasks through it in a bounded window."""

    def __init__(self, workers: int, task: Callable[..., Any], payload: Any) -> None:
        self._task = task
        self._payload = payload
        self._executor = ProcessPoolExecutor(
            workers, mp_context=_context(), initializer=_worker_init
        )

    def _submit(self, reps: list[int]) -> Future[Any]:
        with deferred_sigint(), warnings.catch_warnings():
            # Python ≥ 3.12 warns about fork() in a process with threads (numpy's BLAS
            # pool); workers touch neither those threads nor their locks.
            warnings.filterwarnings("ignore", "This process .* is multi-threaded")
            return self._executor.submit(self._task, self._payload, reps)

    def drain(
        self,
        tasks: Iterator[list[int]],
        window: int,
        on_result: Callable[[Any], None],
    ) -> tuple[list[list[int]], int]:
        """Run ``tasks`` until they are done or the pool breaks.

        Returns the tasks lost when a worker died (empty when all finished) and the
        number of tasks that finished.
        """
        in_flight: dict[Future[Any], list[int]] = {}
        finished = 0
        lost: list[list[int]] = []
        while True:
            while len(in_flight) < window:
                reps = next(tasks, None)
                if reps is None:
                    break
                try:
                    in_flight[self._submit(reps)] = reps
                except BrokenProcessPool:
                    lost.append(reps)
                    return lost + list(in_flight.values()), finished
            if not in_flight:
                return lost, finished
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: in_flight[f][0]):
                reps = in_flight.pop(future)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    lost.append(reps)
                elif error is not None:
                    raise error
                else:
                    finished += 1
                    on_result(future.result())
            if lost:
                return lost + list(in_flight.values()), finished

    def close(self, kill: bool = False) -> None:
        """Shut the pool down; with ``kill``, terminate its workers first."""
        if kill:
            for process in list((getattr(self._executor, "_processes", None) or {}).values()):
                if process.is_alive():
                    process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=True)


def _chunks(replications: int, size: int) -> Iterator[list[int]]:
    for start in range(0, replications, size):
        yield list(range(start, min(replications, start + size)))


def run_pooled(
    task: Callable[[Any, list[int]], Sequence[Any]],
    payload: Any,
    replications: int,
    workers: int,
    on_result: Callable[[Sequence[Any]], None],
    *,
    chunk_size: int,
    seed: int | None = None,
) -> None:
    """Run ``task(payload, reps)`` over chunks of ``range(replications)`` in worker processes.

    Parameters
    ----------
    task : callable
        A module-level function (it is pickled by name) returning one result per
        replication in ``reps``.
    payload : object
        Passed to every call (pickled once per chunk).
    replications : int
        Replications ``0 … replications − 1``.
    workers : int
        Worker processes (at least 2; see :func:`resolve_workers`).
    on_result : callable
        Called in this process with each chunk's results, in the order chunks finish.
    chunk_size : int
        Replications per task.
    seed : int, optional
        The root seed, named in the error when replications fail.

    Raises
    ------
    WorkerError
        When replications kill their worker even when run alone, or workers keep dying
        before finishing anything.
    """
    window = WINDOW_PER_WORKER * workers
    failed: list[int] = []

    def phase(tasks: Iterator[list[int]], n: int, window: int) -> list[int]:
        """Run tasks in fresh pools until done; the replications lost to dead workers."""
        lost: list[int] = []
        barren = 0
        while True:
            pool = _Pool(n, task, payload)
            try:
                broken, finished = pool.drain(tasks, window, on_result)
            except BaseException:
                pool.close(kill=True)
                raise
            pool.close(kill=bool(broken))
            if not broken:
                return sorted(lost)
            lost.extend(r for reps in broken for r in reps)
            barren = 0 if finished else barren + 1
            if barren >= MAX_BARREN_POOLS:
                hint = ""
                if _context().get_start_method() == "spawn":
                    hint = (
                        " (a script that starts workers must keep its top-level code under "
                        "`if __name__ == '__main__':`)"
                    )
                raise WorkerError(
                    f"worker processes keep dying before finishing any replication "
                    f"({MAX_BARREN_POOLS} new pools in a row); run with one worker to see "
                    f"the error in this process{hint}",
                    seed=seed,
                )

    suspects = phase(_chunks(replications, chunk_size), workers, window)
    if suspects:  # retried one replication per task, one task per worker
        suspects = phase(iter([[r] for r in suspects]), min(workers, len(suspects)), workers)
    for r in suspects:  # alone: a death now is this replication's own
        if phase(iter([[r]]), 1, 1):
            failed.append(r)
    if failed:
        listed = ", ".join(str(r) for r in failed)
        many = len(failed) > 1
        raise WorkerError(
            f"replication{'s' if many else ''} {listed} (root seed {seed}) killed the "
            f"worker process{'es' if many else ''} running {'them' if many else 'it'}, "
            "also when retried alone; "
            f"reproduce it in one process with crmsim.engine.simulate(scenario, seed={seed}, "
            f"replication={failed[0]})",
            failed,
            seed,
        )
