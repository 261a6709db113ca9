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


_after_the_fork: list[int] = []


def _count_after_the_fork(_context, chunk):
    return [(len(_after_the_fork), os.getpid()) for _ in chunk]


@needs_cores
def test_workers_started_early_are_forked_at_once_and_serve_several_maps(fail_instead_of_hanging):
    # Forked before the parent grows: what the parent makes afterwards is not in the workers.
    with parallel.Workers(_count_after_the_fork, None, spare=1) as workers:
        _after_the_fork.extend(range(5))
        try:
            first = [seen for chunk in workers.map([[1], [2], [3]]) for seen in chunk]
            second = [seen for chunk in workers.map([[4]]) for seen in chunk]
        finally:
            _after_the_fork.clear()
    assert [n for n, _pid in first + second] == [0, 0, 0, 0]
    pids = {pid for _n, pid in first + second}
    assert os.getpid() not in pids and len(pids) <= workers.count == max(1, parallel.cores() - 1)


def test_workers_not_worth_starting_run_the_work_here():
    with parallel.Workers(_count_after_the_fork, None, parallel=False) as workers:
        _after_the_fork.append(1)
        try:
            assert list(workers.map([[1]])) == [[(1, os.getpid())]]
        finally:
            _after_the_fork.clear()


def _apps_ready(_context, chunk):
    from django.apps import apps

    return [(apps.ready, os.getpid()) for _ in chunk]


@needs_cores
def test_fresh_workers_are_new_interpreters_with_django_set_up(fail_instead_of_hanging):
    _after_the_fork.append(1)  # before the workers start: a fork would see it
    try:
        with parallel.Workers(_count_after_the_fork, None, fresh=True) as workers:
            seen = [value for chunk in workers.map([[1], [2]]) for value in chunk]
    finally:
        _after_the_fork.clear()
    assert [n for n, _pid in seen] == [0, 0] and os.getpid() not in {pid for _n, pid in seen}
    with parallel.Workers(_apps_ready, None, fresh=True) as workers:
        assert [ready for chunk in workers.map([[1]]) for ready, _pid in chunk] == [True]


@needs_cores
def test_the_callers_own_work_runs_while_the_workers_compute_the_chunks_handed_ahead(fail_instead_of_hanging):
    taken, seen_meanwhile = [], []

    def chunks():
        for i in range(20):
            taken.append(i)
            yield [i]

    with parallel.Workers(_tag, (0, None), spare=1) as workers:
        results = workers.map(chunks(), meanwhile=lambda: seen_meanwhile.append(len(taken)), ahead=8)
        assert seen_meanwhile == []  # nothing runs before the first result is asked for
        first = next(results)
        assert seen_meanwhile == [8]  # eight chunks were handed out, not the usual few
        assert [first[0][0], *(chunk[0][0] for chunk in results)] == list(range(20))
    assert seen_meanwhile == [8]


def test_without_workers_the_callers_own_work_runs_first():
    order = []

    def chunks():
        for i in range(3):
            order.append(f"chunk {i}")
            yield [i]

    with parallel.Workers(_tag, (0, None), parallel=False) as workers:
        assert [chunk[0][0] for chunk in workers.map(chunks(), meanwhile=lambda: order.append("meanwhile"), ahead=5)] \
            == [0, 1, 2]
    assert order == ["meanwhile", "chunk 0", "chunk 1", "chunk 2"]


@needs_cores
def test_the_callers_own_work_runs_even_with_no_chunks(fail_instead_of_hanging):
    ran = []
    with parallel.Workers(_tag, (0, None), spare=1, start=False) as workers:
        assert list(workers.map(iter(()), meanwhile=lambda: ran.append(True), ahead=4)) == []
        assert workers.executor is None  # no process started for nothing
    assert ran == [True]
