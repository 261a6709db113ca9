"""The http-json connector against a real simulated line system on 127.0.0.1."""

import json
import socket
import time

import pytest

from yici.exchange.connectors import (
    CONNECTORS,
    ConnectorError,
    Outgoing,
    connector_class,
    get_connector,
    http,
)
from yici.exchange.connectors.http_json import HttpJsonConnector
from yici.exchange.models import LineSystemEndpoint
from yici.exchange.tests.test_outbox import SECRET, running_simulator


def endpoint(url, secret=SECRET, timeout=5.0):
    return LineSystemEndpoint(kind="http-json", url=url, secret=secret, timeout_seconds=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kinds_are_registered_by_dotted_path_and_imported_lazily():
    assert CONNECTORS["http-json"].endswith("HttpJsonConnector")
    assert connector_class("http-json") is HttpJsonConnector
    assert isinstance(get_connector(endpoint("http://127.0.0.1:9/")), HttpJsonConnector)
    with pytest.raises(ConnectorError) as exc:
        connector_class("carrier-pigeon")
    assert exc.value.permanent


def test_signature_round_trip_and_tampering():
    ts = str(int(time.time()))
    sig = http.sign(SECRET, ts, b'{"a":1}')
    assert sig.startswith("sha256=") and http.verify(SECRET, ts, b'{"a":1}', sig)
    assert not http.verify(SECRET, ts, b'{"a":2}', sig)
    assert not http.verify("other", ts, b'{"a":1}', sig)
    assert not http.verify(SECRET, str(int(time.time()) - 3600), b'{"a":1}', http.sign(SECRET, str(int(time.time()) - 3600), b'{"a":1}'))


def test_push_is_signed_and_idempotent(tmp_path):
    with running_simulator(tmp_path) as sim:
        connector = get_connector(endpoint(sim.url))
        receipt = connector.push(Outgoing(payload={"id": 1, "data": {"xm": "张三"}}, idempotency_key="k1"))
        assert receipt.status_code == 200 and len(receipt.response_digest) == 64
        again = connector.push(Outgoing(payload={"id": 1, "data": {"xm": "张三"}}, idempotency_key="k1"))
        assert again.response_digest == receipt.response_digest
        assert sim.store.count() == 1 and sim.store.payloads() == [{"id": 1, "data": {"xm": "张三"}}]


def test_a_wrong_secret_is_refused_permanently(tmp_path):
    with running_simulator(tmp_path) as sim:
        with pytest.raises(ConnectorError) as exc:
            get_connector(endpoint(sim.url, secret="wrong")).push(Outgoing(payload={}, idempotency_key="k"))
        assert exc.value.permanent and exc.value.status_code == 401
        assert sim.store.count() == 0


def test_server_errors_are_transient(tmp_path):
    with running_simulator(tmp_path, fail_rate=1.0) as sim:
        with pytest.raises(ConnectorError) as exc:
            get_connector(endpoint(sim.url)).push(Outgoing(payload={}, idempotency_key="k"))
        assert not exc.value.permanent and exc.value.status_code == 500


def test_refused_connections_and_timeouts_are_transient(tmp_path):
    with pytest.raises(ConnectorError) as exc:
        get_connector(endpoint(f"http://127.0.0.1:{free_port()}/")).push(Outgoing(payload={}, idempotency_key="k"))
    assert not exc.value.permanent and exc.value.status_code is None
    with running_simulator(tmp_path, latency_ms=600) as sim:
        started = time.perf_counter()
        with pytest.raises(ConnectorError) as exc:
            get_connector(endpoint(sim.url, timeout=0.2)).push(Outgoing(payload={}, idempotency_key="k"))
        assert not exc.value.permanent and time.perf_counter() - started < 2


def test_private_address_policy(settings):
    settings.YICI_OUTBOUND_BLOCK_PRIVATE = True
    with pytest.raises(ConnectorError) as exc:
        get_connector(endpoint("http://127.0.0.1:9/")).push(Outgoing(payload={}, idempotency_key="k"))
    assert exc.value.permanent and "private" in exc.value.message


def test_simulator_requires_an_idempotency_key(tmp_path):
    with running_simulator(tmp_path) as sim:
        body = json.dumps({}).encode()
        ts = str(int(time.time()))
        response = http.post(sim.url, body, timeout=5, headers={
            "X-Yici-Timestamp": ts, "X-Yici-Signature": http.sign(SECRET, ts, body)})
        assert response.status == 400
