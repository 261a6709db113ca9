"""Per-row work spread over the machine's cores, in forked worker processes.

For pure computation over many items (normalising a file's rows): the GIL keeps one process to
one core, and the county IT team's machines have two or more. Workers are forked so that they
inherit what the work needs (a catalog's element specs, the area names) instead of loading it
again; items and results cross by pipe, in order.
"""

import gc
import multiprocessing
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

# (function, context) for the workers of the pool being made: forked workers inherit it.
_work: tuple[Callable, object] | None = None
# Chunks per worker sent ahead of the caller.
IN_FLIGHT = 2


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _run(chunk: Sequence) -> list:
    function, context = _work
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
    workers does not collect every result in memory. An exception in a worker is raised here.
    """
    workers = cores()
    if not parallel or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for chunk in chunks:
            yield function(context, chunk)
        return
    global _work
    if _work is not None:
        raise RuntimeError("map_chunks does not nest")
    _work = (function, context)
    # Workers must not run collections over every inherited object: touching them copies their pages.
    gc.freeze()
    try:
        with warnings.catch_warnings():
            # Python warns on forking a process that has other threads (a progress bar's monitor,
            # a database driver's): a lock one of them holds stays held in the child. The workers
            # run only ``function`` and the pool's own pipes, made before the fork.
            warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks",
                                    category=DeprecationWarning)
            pool = multiprocessing.get_context("fork").Pool(workers)
    except BaseException:
        _work = None
        raise
    finally:
        gc.unfreeze()
    try:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_run, (chunk,)))
            if len(pending) > IN_FLIGHT * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    finally:
        pool.terminate()
        pool.join()
        _work = None
