import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.parametrize(
    "options, message",
    [({"port": "eighty"}, "not a number"), ({"port": "70000"}, "outside"), ({"workers": 0}, "at least 1")],
)
def test_serve_refuses_bad_arguments(db, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("serve", **options)


def test_worker_refuses_a_bad_interval(db):
    with pytest.raises(CommandError, match="positive"):
        call_command("worker", interval=0)


def test_worker_runs_queued_tasks_in_batch_mode(transactional_db, settings, signal_handlers_restored):
    # The suite runs tasks inline; this test needs the real queue (Django resets its backends when TASKS changes).
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    from yici.burden.models import BurdenCount
    from yici.web.tests.tasks_for_tests import record_burden

    result = record_burden.enqueue("fields_typed")
    assert not BurdenCount.objects.exists()  # queued, not run yet
    call_command("worker", batch=True, interval=0.1)

    assert BurdenCount.objects.get(metric="fields_typed").count == 1
    result.refresh()
    assert result.status == "SUCCESSFUL"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_waits_for_the_simulated_systems_before_starting_the_worker():
    import socket
    import threading

    from yici.web.management.commands.serve import wait_until_listening

    late_port, never_port = _free_port(), _free_port()
    server = socket.socket()

    def listen_later():
        server.bind(("127.0.0.1", late_port))
        server.listen()

    timer = threading.Timer(0.3, listen_later)
    timer.start()
    try:
        assert wait_until_listening([late_port], timeout=5) == []  # came up while waited for
        assert wait_until_listening([late_port, never_port], timeout=0.3) == [never_port]
    finally:
        timer.join()
        server.close()
