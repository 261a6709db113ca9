"""The line-system simulator: its command's input checks, and the real command serving on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from yici.exchange.connectors import Outgoing, get_connector
from yici.exchange.models import LineSystemEndpoint
from yici.exchange.tests.test_outbox import SECRET, running_simulator


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "port must be between 0 and 65535"),
        (["--port", "abc"], "invalid int value"),
        (["--port", "0", "--fail-rate", "2"], "--fail-rate must be between 0 and 1"),
        (["--port", "0", "--latency-ms", "-5"], "--latency-ms cannot be negative"),
        (["--port", "0", "--name", "../x"], "--name may hold"),
        (["--port", "0", "--timeout-rate", "1.5"], "--timeout-rate must be between 0 and 1"),
        (["--port", "0", "--hang-seconds", "-1"], "--hang-seconds cannot be negative"),
        (["--port", "0", "--schema", "/no/such/schema.json"], "cannot read --schema"),
    ],
)
def test_bad_input_is_a_one_line_command_error(args, message, tmp_path):
    options = {"--name": "sim", "--secret": SECRET, "--store": str(tmp_path / "s.sqlite3")}
    for i in range(0, len(args), 2):
        options[args[i]] = args[i + 1]
    with pytest.raises(CommandError) as exc:
        call_command("simulate_line_system", *[x for pair in options.items() for x in pair])
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_port_in_use_is_a_one_line_command_error(tmp_path, monkeypatch):
    monkeypatch.delenv("YICI_SIMULATOR_SECRET", raising=False)
    with pytest.raises(CommandError, match="signing secret is required"):
        call_command("simulate_line_system", "--name", "sim", "--port", "0", "--store", str(tmp_path / "s.sqlite3"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{port}"):
            call_command("simulate_line_system", "--name", "sim", "--port", str(port), "--secret", SECRET,
                         "--store", str(tmp_path / "s.sqlite3"))


def test_the_store_survives_a_restart(tmp_path):
    endpoint = LineSystemEndpoint(kind="http-json", secret=SECRET, timeout_seconds=5)
    with running_simulator(tmp_path) as sim:
        endpoint.url = sim.url
        get_connector(endpoint).push(Outgoing(payload={"n": 1}, idempotency_key="k1"))
    with running_simulator(tmp_path) as sim:
        endpoint.url = sim.url
        receipt = get_connector(endpoint).push(Outgoing(payload={"n": 1}, idempotency_key="k1"))
        assert receipt.status_code == 200 and sim.store.count() == 1


def test_the_command_serves_on_loopback(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "yici.settings_test", "YICI_VAR_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "yici", "simulate-line-system", "--name", "minzheng", "--port", "0", "--secret", SECRET],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, process.stderr.read() if process.poll() is not None else line
        url = line.split()[3]
        endpoint = LineSystemEndpoint(kind="http-json", url=url + "in", secret=SECRET, timeout_seconds=5)
        assert get_connector(endpoint).push(Outgoing(payload={"n": 1}, idempotency_key="k")).status_code == 200
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=5) as response:
            assert json.load(response) == {"system": "minzheng", "received": 1, "records": 0, "order_violations": 0}
        assert (tmp_path / "simulator-minzheng.sqlite3").exists()
    finally:
        process.terminate()
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=5)


@pytest.mark.parametrize(("content", "message"), [("{not json", "is not JSON"), ('{"person": "xm"}', "must be an object")])
def test_a_bad_schema_file_is_a_one_line_command_error(tmp_path, content, message):
    schema = tmp_path / "schema.json"
    schema.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError) as exc:
        call_command("simulate_line_system", "--name", "sim", "--port", "0", "--secret", SECRET,
                     "--store", str(tmp_path / "s.sqlite3"), "--schema", str(schema))
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "s.sqlite3").exists()  # nothing started, nothing stored
