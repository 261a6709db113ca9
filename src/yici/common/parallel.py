"""Per-row work spread over the machine's cores, in forked worker processes.

For pure computation over many items (normalising a file's rows): the GIL keeps one process to
one core, and the county IT team's machines have two or more. Workers are forked so that they
inherit what the work needs (a catalog's element specs, the area names) instead of loading it
again; items and results cross by pipe, in order.
"""

import gc
import multiprocessing
import os
import signal
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

# (function, context) for the workers of the pool being made: forked workers inherit it.
_work: tuple[Callable, object] | None = None
# Chunks per worker sent ahead of the caller.
IN_FLIGHT = 2


class WorkerLost(RuntimeError):
    """A worker process ended without finishing its chunk (killed, out of memory)."""


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _as_a_worker() -> None:
    """Signal handling of a plain worker, whatever the parent had installed.

    The parent may itself be a task worker, which handles SIGTERM to finish its task first: a
    forked worker inheriting that handler would outlive being told to stop. Ctrl-C reaches the
    whole process group; the parent handles it and stops the workers."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGQUIT"):
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _run(chunk: Sequence) -> list:
    function, context = _work
    return function(context, chunk)


def _as_a_fresh_worker(settings_module: str | None) -> None:
    """A spawned worker: a new interpreter, with Django set up as in the parent (the work may read
    models' definitions, never the database)."""
    _as_a_worker()
    if settings_module:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
        import django

        django.setup()


def _call(function: Callable[[object, Sequence], list], context, chunk: Sequence) -> list:
    return function(context, chunk)


def map_chunks(function: Callable[[object, Sequence], list], context, chunks: Iterable[Sequence], *,
               parallel: bool = True) -> Iterator[list]:
    """``function(context, chunk)`` for each chunk, yielded in order.

    With ``parallel`` (the caller knows whether the work is large enough to pay for starting
    processes), on a machine of several cores where processes can be forked, the chunks go to one
    worker process per core; otherwise they run here. ``function`` must be a module-level function
    that does not touch the database: a worker inherits the parent's open connection, which only
    the parent may use. ``context`` is inherited, not pickled; chunks and results are. The chunks
    are taken from ``chunks`` in this thread (they may be read from the database) and no more
    than ``IN_FLIGHT`` per worker wait for the caller at a time, so a caller slower than the
    workers does not collect every result in memory. An exception in a worker is raised here; a
    worker that dies raises ``WorkerLost`` here instead of leaving the caller waiting.
    """
    with Workers(function, context, parallel=parallel, start=False) as workers:
        yield from workers.map(chunks)


class Workers:
    """The worker processes of ``map_chunks``, kept for several maps and, with ``start``, started
    at once rather than at the first chunk.

    A forked worker shares every page of its parent as it was at the fork, and each page the
    parent writes afterwards is copied (the worker keeps the original): workers forked from a
    parent about to read a million records and touch them all again would double them in memory.
    Started early, they share only what the parent held then; ``fresh`` workers share nothing.
    What they need later comes with the chunks. Use as a context manager; ``map`` as
    ``map_chunks``.
    """

    def __init__(self, function: Callable[[object, Sequence], list], context, *, parallel: bool = True,
                 start: bool = True, spare: int = 0, fresh: bool = False):
        """``spare``: cores left to this process (for a caller that has work of its own while the
        workers compute); at least one worker all the same.

        ``fresh``: the workers are new interpreters (spawned, Django set up) rather than forks of
        this process, so they hold none of its memory, whatever it holds now: a process that
        imported a county's files before reconciling them still holds hundreds of megabytes that
        a fork would keep alive in the worker once this process reuses them. Starting one costs
        a second or two of the other core. ``function`` and ``context`` are then pickled (the
        function by name) rather than inherited.
        """
        self.function, self.context = function, context
        self.count = max(1, cores() - spare)
        self.fresh = fresh
        self.parallel = parallel and cores() >= 2 and (fresh or "fork" in multiprocessing.get_all_start_methods())
        self.executor: ProcessPoolExecutor | None = None
        self.start_now = start

    def __enter__(self) -> "Workers":
        if self.parallel and self.start_now:
            self._start(None)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _submit(self, chunk: Sequence):
        if self.fresh:
            return self.executor.submit(_call, self.function, self.context, chunk)
        return self.executor.submit(_run, chunk)

    def _start(self, first: Sequence | None):
        """Make the pool; its workers are forked (or spawned) by the first submit, done here."""
        global _work
        if self.fresh:
            from django.conf import settings

            module = settings.SETTINGS_MODULE if settings.configured else None
            self.executor = ProcessPoolExecutor(self.count, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_as_a_fresh_worker, initargs=(module,))
            return self._submit(first) if first is not None else self.executor.submit(os.getpid)
        if _work is not None:
            raise RuntimeError("map_chunks does not nest")
        # The standard library's pool rather than multiprocessing.Pool: when a worker dies, the
        # latter waits for its result for ever.
        self.executor = ProcessPoolExecutor(self.count, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_as_a_worker)
        _work = (self.function, self.context)
        # The workers must not run collections over every inherited object: touching them copies
        # their pages.
        gc.freeze()
        try:
            with warnings.catch_warnings():
                # Python warns on forking a process that has other threads (a progress bar's
                # monitor, a database driver's): a lock one of them holds stays held in the
                # child. The workers run only ``function`` and the pool's own pipes.
                warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks",
                                        category=DeprecationWarning)
                return self._submit(first) if first is not None else self.executor.submit(os.getpid)
        finally:
            gc.unfreeze()

    def map(self, chunks: Iterable[Sequence], *, meanwhile: Callable[[], None] | None = None,
            ahead: int = 0) -> Iterator[list]:
        """``function(context, chunk)`` for each chunk, yielded in order.

        ``meanwhile``: work of the caller's own, run here once ``ahead`` chunks (more than the
        usual ``IN_FLIGHT``, to keep the workers busy while it runs) have been handed to the
        workers, before the first result is awaited; run first when nothing runs in parallel.
        """
        if not self.parallel:
            if meanwhile is not None:
                meanwhile()
            for chunk in chunks:
                yield self.function(self.context, chunk)
            return
        pending: deque = deque()
        limit = IN_FLIGHT * self.count
        try:
            chunks = iter(chunks)
            if self.executor is None:
                first = next(chunks, None)
                if first is not None:
                    pending.append(self._start(first))
            if meanwhile is not None:
                for chunk in chunks:
                    pending.append(self._submit(chunk))
                    if len(pending) >= max(ahead, limit):
                        break
                meanwhile()
            for chunk in chunks:
                pending.append(self._submit(chunk))
                while len(pending) > limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as error:  # from a result or from submitting to a broken pool
            raise WorkerLost("a worker process ended before finishing its work") from error
        finally:
            for future in pending:  # a caller that stopped early: chunks not started are dropped
                future.cancel()

    def close(self) -> None:
        global _work
        if self.executor is not None:
            # Chunks not started are dropped; a worker busy with one finishes it and exits.
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
            if not self.fresh:
                _work = None
