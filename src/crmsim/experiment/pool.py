"""Worker processes for replications: bounded, interruptible and robust to dying workers.

:func:`run_pooled` runs a task over consecutive chunks of the replications ``0 … R−1``
in a process pool and hands each chunk's results to a callback. What it guarantees:

* **Bounded memory.** Each worker has its own pipe and is sent at most
  :data:`TASKS_PER_WORKER` chunks at a time; nothing is built for replications that are
  not yet running, so ``R = 10⁹`` costs no more memory up front than ``R = 10``.
* **Ctrl-C at any moment** (also while workers start) raises in the calling process
  only: workers ignore SIGINT (it is blocked while they are created, so none can
  receive it before it is ignored) and are terminated when the run is interrupted or
  fails, so no traceback comes from a worker and no worker outlives the run.
* **A worker that dies** (killed, out of memory, a crash in native code) is replaced
  by a new process. Because each worker has its own pipe, the chunk it was running is
  known: each of its replications is retried once, as a task of its own, so a
  replication that kills its worker is told from the others of its chunk. Only a
  replication whose worker dies again when it runs alone is reported as failed
  (:class:`WorkerError`, with its number and the seed); every other result is identical
  to an uninterrupted run. Chunks sent to the dead worker but not started are run
  again as they were.

(``concurrent.futures.ProcessPoolExecutor`` is not used: when a worker dies it cannot
say which task killed it, and terminating its workers on Ctrl-C can leave its result
thread blocked for ever on a half-written message.)

On Linux, workers are started with ``fork`` (unless other Python threads are running,
see :func:`_context`): they do not re-import the ``__main__`` module, so a script that
calls :func:`crmsim.experiment.run_replications` with several workers needs no
``if __name__ == "__main__":`` guard. Otherwise the ``spawn`` method is used, which
re-imports the main module in every worker: a script must then keep its top-level code
under that guard (Python's own rule).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import Any

__all__ = [
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "WorkerError",
    "WorkersCappedWarning",
    "available_cores",
    "deferred_sigint",
    "make_executor",
    "resolve_workers",
    "run_pooled",
]

#: Chunks sent to a worker at a time: the next one waits in its pipe while it sends
#: the results of the last, so it never idles; memory does not grow with R.
TASKS_PER_WORKER = 2

#: How long to try to reach a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT = "10s"

#: Worker deaths in a row (plus one per worker) with no result in between after which
#: the run gives up: workers that cannot run at all, not one replication that kills its.
MAX_DEATHS_IN_A_ROW = 4


class WorkersCappedWarning(UserWarning):
    """More worker processes were asked for than this machine has cores."""


class WorkerError(RuntimeError):
    """Worker processes died and some replications could not be run.

    Attributes
    ----------
    replications : list
        The replications (or work items, e.g. ``(variant, replication)`` pairs) whose
        worker died even when each ran alone (empty when the workers could not run at all).
    seed : int or None
        The root seed: replication ``r`` is reproduced alone with
        ``crmsim.engine.simulate(scenario, seed=seed, replication=r)``.
    """

    def __init__(self, message: str, replications: Sequence[Any] = (), seed: int | None = None):
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

    if previous is not None:  # (None: a handler not set from Python; leave it alone)
        signal.signal(signal.SIGINT, hold)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, caught[0])
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


def _context() -> BaseContext:
    """``fork`` on Linux when no other Python thread runs; ``spawn`` otherwise.

    A forked worker does not re-import ``__main__`` (scripts need no guard) and starts
    fast. It is safe while this process runs no other Python thread: a thread could
    hold a lock (of ``sys.stderr``, say) at the moment of the fork, which the worker
    would then wait for for ever. With threads running (a progress bar that refreshes
    itself, a notebook kernel), workers are spawned, as on macOS and Windows.
    """
    fork = sys.platform.startswith("linux") and threading.active_count() == 1
    return get_context("fork" if fork else "spawn")


def _worker_main(conn: Connection, task: Callable[..., Any], payload: Any, parent: int) -> None:
    """A worker: run the tasks that arrive on ``conn`` and send back their results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if hasattr(signal, "pthread_sigmask"):  # blocked while this process was created
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    while True:
        while not conn.poll(1.0):
            if os.getppid() != parent:  # the parent is gone: nobody wants the results
                return
        try:
            reps = conn.recv()
        except EOFError:
            return
        if reps is None:
            return
        try:
            message: tuple[Any, ...] = ("done", task(payload, reps))
        except Exception as exc:
            message = ("error", exc, traceback.format_exc())
        try:
            conn.send(message)
        except Exception:  # an error that cannot be pickled
            conn.send(("error", RuntimeError(repr(message[1])), message[-1]))


class _Worker:
    """One worker process, with its own pipe and the tasks sent to it, oldest first."""

    def __init__(self, ctx: BaseContext, task: Callable[..., Any], payload: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child, task, payload, os.getpid()), daemon=True
        )
        self.sent: list[list[int]] = []
        with deferred_sigint(), warnings.catch_warnings():
            # Python ≥ 3.12 warns about fork() in a process with threads (numpy's BLAS
            # pool); the worker touches neither those threads nor their locks.
            warnings.filterwarnings("ignore", "This process .* is multi-threaded")
            self.process.start()
        child.close()

    def stop(self) -> None:
        """End the process: asked nicely when idle, terminated otherwise."""
        if self.process.is_alive() and not self.sent:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


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
    chunks: Iterable[list[Any]] | None = None,
) -> None:
    """Run ``task(payload, reps)`` over chunks of ``range(replications)`` in worker processes.

    Each worker has its own pipe and at most :data:`TASKS_PER_WORKER` chunks sent to it,
    so the work in flight is bounded and, when a worker dies, the chunk it was running
    is known: its replications are retried once, each as a task of its own.

    Parameters
    ----------
    task : callable
        A module-level function returning one result per replication in ``reps``.
    payload : object
        Passed to every call; sent once to each worker.
    replications : int
        Replications ``0 … replications − 1``.
    workers : int
        Worker processes (see :func:`resolve_workers`).
    on_result : callable
        Called in this process with each chunk's results, in the order chunks finish.
    chunk_size : int
        Replications per task.
    seed : int, optional
        The root seed, named in the error when replications fail.
    chunks : iterable of lists, optional
        The work items in chunks, instead of ``range(replications)`` in chunks of
        ``chunk_size``: any picklable, hashable items (e.g. ``(variant, replication)``
        pairs), consumed lazily.

    Raises
    ------
    WorkerError
        When replications kill their worker also when retried alone, or workers keep
        dying before finishing anything. An error raised by ``task`` is raised here.
    """
    ctx = _context()
    fresh = iter(chunks) if chunks is not None else _chunks(replications, chunk_size)
    queue: deque[list[int]] = deque()  # to run before fresh chunks: retries, returns
    retried: set[Any] = set()
    failed: list[Any] = []
    deaths_in_a_row = 0
    pool: list[_Worker] = []

    def more() -> bool:
        if not queue:
            reps = next(fresh, None)
            if reps is not None:
                queue.append(reps)
        return bool(queue)

    def died(worker: _Worker) -> None:
        """Re-queue what a dead worker was given; its running chunk is retried alone."""
        nonlocal deaths_in_a_row
        worker.process.join(5)
        if worker.sent:
            deaths_in_a_row += 1
            running, *unstarted = worker.sent
            queue.extendleft(reversed(unstarted))  # never started: run again as they were
            if len(running) == 1 and running[0] in retried:
                failed.append(running[0])
            else:
                retried.update(running)
                queue.extend([r] for r in running)
            worker.sent = []
        worker.stop()
        pool.remove(worker)
        if deaths_in_a_row > MAX_DEATHS_IN_A_ROW + workers:
            raise WorkerError(_barren_message(ctx, deaths_in_a_row), failed, seed)

    try:
        while True:
            while len(pool) < workers and more():  # start (or replace) workers
                try:
                    pool.append(_Worker(ctx, task, payload))
                except OSError as exc:  # e.g. EAGAIN: the system's process limit
                    raise WorkerError(
                        f"cannot start a worker process ({exc.strerror or exc}); "
                        "run with fewer workers",
                        seed=seed,
                    ) from None
            for worker in pool:  # keep each supplied, within the bound
                while len(worker.sent) < TASKS_PER_WORKER and more():
                    reps = queue.popleft()
                    worker.sent.append(reps)
                    try:
                        worker.conn.send(reps)
                    except OSError:  # it died: handled below, with what it was sent
                        break
            busy = [w for w in pool if w.sent]
            if not busy:
                break
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                gone = worker.process.sentinel in ready
                try:
                    while worker.sent and worker.conn.poll():
                        message = worker.conn.recv()
                        worker.sent.pop(0)
                        if message[0] == "error":
                            _, error, remote = message
                            error.add_note(f"(raised in a worker process)\n{remote}")
                            raise error
                        deaths_in_a_row = 0
                        on_result(message[1])
                except (EOFError, OSError):  # the pipe closed: the worker ended
                    gone = True
                if gone:
                    died(worker)
    finally:
        for worker in pool:
            worker.stop()
    if failed:
        failed.sort()
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


def _barren_message(ctx: BaseContext, deaths: int) -> str:
    hint = ""
    if ctx.get_start_method() == "spawn":
        hint = (
            " (a script that starts workers must keep its top-level code under "
            "`if __name__ == '__main__':`)"
        )
    return (
        f"worker processes keep dying: {deaths} in a row without finishing a replication; "
        f"run with one worker to see the error in this process{hint}"
    )


# --------------------------------------------------------------------------- executors


class Executor:
    """Runs a task over chunks of work items and hands each chunk's results back.

    Three kinds, with the same results for the same seed (every replication draws from
    its own named streams, and callers assemble results by replication, not by the order
    in which chunks finish): :class:`SerialExecutor` (in this process),
    :class:`ProcessExecutor` (a local pool, :func:`run_pooled`) and
    :class:`DaskExecutor` (a ``dask.distributed`` cluster).
    """

    #: Chunks that can run at once (used to size chunks).
    parallelism: int = 1

    def map_chunks(
        self,
        task: Callable[[Any, list[Any]], Sequence[Any]],
        payload: Any,
        chunks: Iterable[list[Any]],
        on_result: Callable[[Sequence[Any]], None],
        *,
        seed: int | None = None,
    ) -> None:
        """Call ``on_result(task(payload, chunk))`` for every chunk, in any order.

        Parameters
        ----------
        task : callable
            A module-level function returning one result per item of the chunk.
        payload : object
            Passed to every call (sent once to each worker).
        chunks : iterable of lists
            The work items, consumed lazily (the work in flight is bounded).
        on_result : callable
            Called in this process with each chunk's results.
        seed : int, optional
            Root seed, named in errors.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor holds (a cluster connection it opened)."""

    def describe(self) -> str:
        """One line saying where the work runs."""
        return "in this process"


class SerialExecutor(Executor):
    """Every chunk in this process, one after the other."""

    def map_chunks(
        self,
        task: Callable[[Any, list[Any]], Sequence[Any]],
        payload: Any,
        chunks: Iterable[list[Any]],
        on_result: Callable[[Sequence[Any]], None],
        *,
        seed: int | None = None,
    ) -> None:
        """Run the chunks here, in order (see :meth:`Executor.map_chunks`)."""
        for chunk in chunks:
            on_result(task(payload, chunk))


class ProcessExecutor(Executor):
    """A local pool of worker processes (:func:`run_pooled`).

    Parameters
    ----------
    workers : int
        Worker processes (already resolved: see :func:`resolve_workers`).
    """

    def __init__(self, workers: int) -> None:
        self.parallelism = max(1, int(workers))

    def map_chunks(
        self,
        task: Callable[[Any, list[Any]], Sequence[Any]],
        payload: Any,
        chunks: Iterable[list[Any]],
        on_result: Callable[[Sequence[Any]], None],
        *,
        seed: int | None = None,
    ) -> None:
        """Run the chunks in worker processes (see :meth:`Executor.map_chunks`)."""
        run_pooled(
            task, payload, 0, self.parallelism, on_result, chunk_size=1, seed=seed, chunks=chunks
        )

    def describe(self) -> str:
        """One line saying where the work runs."""
        n = self.parallelism
        return f"{n} local worker process{'es' if n != 1 else ''}"


class DaskExecutor(Executor):
    """Chunks run as tasks on a ``dask.distributed`` cluster.

    The payload is scattered to every worker once; at most two chunks per worker thread
    are in flight, so memory does not grow with the number of replications. A worker
    that dies is retried by the scheduler (``retries=1``); an error raised by the task
    is raised here. Needs the optional ``dask`` extra (``pip install "crmsim[dask]"``).

    Parameters
    ----------
    scheduler : str or distributed.Client
        Address of the scheduler (``tcp://HOST:PORT``) or a connected client (left
        open by :meth:`close`).
    """

    def __init__(self, scheduler: Any) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - the extra is installed in CI
            raise RuntimeError(
                'a Dask scheduler needs dask.distributed: pip install "crmsim[dask]"'
            ) from None
        if isinstance(scheduler, str):
            try:
                self.client = Client(
                    scheduler, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False
                )
            except (OSError, TimeoutError) as exc:
                raise RuntimeError(
                    f"cannot connect to the Dask scheduler at {scheduler}: {exc}"
                ) from None
            self._own = True
        else:
            self.client = scheduler
            self._own = False
        threads = self.client.nthreads()
        self.parallelism = max(1, sum(threads.values()))
        self.address = self.client.scheduler.address

    def map_chunks(
        self,
        task: Callable[[Any, list[Any]], Sequence[Any]],
        payload: Any,
        chunks: Iterable[list[Any]],
        on_result: Callable[[Sequence[Any]], None],
        *,
        seed: int | None = None,
    ) -> None:
        """Run the chunks on the cluster (see :meth:`Executor.map_chunks`)."""
        from distributed import as_completed

        client = self.client
        [shared] = client.scatter([payload], broadcast=True, hash=False)
        todo = iter(chunks)
        pending = as_completed(loop=client.loop)
        futures = set()

        def submit() -> bool:
            chunk = next(todo, None)
            if chunk is None:
                return False
            fut = client.submit(task, shared, chunk, pure=False, retries=1)
            futures.add(fut)
            pending.add(fut)
            return True

        try:
            for _ in range(TASKS_PER_WORKER * self.parallelism):
                if not submit():
                    break
            for fut in pending:
                result = fut.result()
                futures.discard(fut)
                fut.release()
                on_result(result)
                submit()
        finally:
            if futures:
                client.cancel(list(futures))
            with contextlib.suppress(Exception):
                client.cancel([shared])

    def close(self) -> None:
        """Close the connection when this executor opened it."""
        if self._own:
            self.client.close()

    def describe(self) -> str:
        """One line saying where the work runs."""
        n = self.parallelism
        return f"the Dask cluster at {self.address} ({n} worker thread{'s' if n != 1 else ''})"


def make_executor(
    executor: Executor | str | None = None,
    *,
    workers: int | None = 1,
    scheduler: Any = None,
) -> tuple[Executor, str | None]:
    """The executor for a run, and a warning when the workers were capped.

    Parameters
    ----------
    executor : Executor or {"serial", "processes", "dask"}, optional
        An executor, or its kind. Default: ``"dask"`` with a ``scheduler``, otherwise
        ``"serial"`` for one worker and ``"processes"`` for more.
    workers : int or None
        Local worker processes (None = one per available core); capped at the cores.
    scheduler : str or distributed.Client, optional
        The Dask scheduler (``tcp://HOST:PORT``) or a client.

    Returns
    -------
    executor : Executor
    warning : str or None
        From :func:`resolve_workers`.

    Examples
    --------
    >>> make_executor(workers=1)[0].describe()
    'in this process'
    """
    if isinstance(executor, Executor):
        return executor, None
    kind = executor or ("dask" if scheduler is not None else None)
    if kind == "dask":
        if scheduler is None:
            raise ValueError('executor="dask" needs a scheduler address (tcp://HOST:PORT)')
        return DaskExecutor(scheduler), None
    n, capped = resolve_workers(workers)
    if kind is None:
        kind = "serial" if n == 1 else "processes"
    if kind == "serial":
        return SerialExecutor(), None
    if kind == "processes":
        return ProcessExecutor(n), capped
    raise ValueError(f"executor {executor!r}: use 'serial', 'processes' or 'dask'")
