import os
import signal
from itertools import batched

import pytest

from yici.common import parallel


def _tag(context, chunk):
    offset, _unpicklable = context
    return [(item + offset, os.getpid()) for item in chunk]


def _fail_on_seven(_context, chunk):
    if 7 in chunk:
        raise ValueError("seven")
    return chunk


needs_cores = pytest.mark.skipif(parallel.cores() < 2, reason="one core: the work runs in this process")


@needs_cores
def test_chunks_run_in_worker_processes_and_come_back_in_order():
    # The context is inherited by the workers, not pickled: a lambda in it is fine.
    chunks = list(parallel.map_chunks(_tag, (100, lambda: None), batched(range(50), 3)))
    results = [value for chunk in chunks for value, _pid in chunk]
    assert results == [i + 100 for i in range(50)]
    pids = {pid for chunk in chunks for _value, pid in chunk}
    assert os.getpid() not in pids and len(pids) >= 1


def test_work_not_worth_a_process_runs_here():
    chunks = list(parallel.map_chunks(_tag, (1, None), batched(range(5), 2), parallel=False))
    assert [value for chunk in chunks for value, _pid in chunk] == [1, 2, 3, 4, 5]
    assert {pid for chunk in chunks for _value, pid in chunk} == {os.getpid()}


@needs_cores
def test_an_error_in_a_worker_is_raised_here_and_the_next_call_still_works():
    with pytest.raises(ValueError, match="seven"):
        list(parallel.map_chunks(_fail_on_seven, None, batched(range(20), 2)))
    assert [x for chunk in parallel.map_chunks(_fail_on_seven, None, batched(range(6), 2))
            for x in chunk] == list(range(6))


@needs_cores
def test_chunks_are_taken_only_a_few_ahead_of_the_caller():
    taken = []

    def chunks():
        for i in range(100):
            taken.append(i)
            yield [i]

    results = parallel.map_chunks(_tag, (0, None), chunks())
    first = next(results)
    assert first[0][0] == 0
    assert len(taken) <= parallel.IN_FLIGHT * parallel.cores() + 1
    assert [chunk[0][0] for chunk in results] == list(range(1, 100))


def _signal_handling(_context, chunk):
    return [(signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) for _ in chunk]


def _die_on_seven(_context, chunk):
    if 7 in chunk:
        os.kill(os.getpid(), signal.SIGKILL)
    return chunk


@needs_cores
def test_workers_do_not_keep_the_parents_signal_handlers(fail_instead_of_hanging):
    # A task worker handles SIGTERM to finish its task first; its pool's workers must not.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        handling = [h for chunk in parallel.map_chunks(_signal_handling, None, batched(range(8), 2)) for h in chunk]
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert set(handling) == {(signal.SIG_DFL, signal.SIG_IGN)}


@needs_cores
def test_a_worker_that_dies_is_reported_not_waited_for(fail_instead_of_hanging):
    with pytest.raises(parallel.WorkerLost):
        list(parallel.map_chunks(_die_on_seven, None, batched(range(20), 2)))
    assert [x for chunk in parallel.map_chunks(_die_on_seven, None, batched(range(6), 2))
            for x in chunk] == list(range(6))
