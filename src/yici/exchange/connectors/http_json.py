"""``http-json``: POST the payload as JSON, signed, with the delivery's idempotency key.

Systems that accept arrays (``config["batch_size"] > 1``) get several deliveries in one signed
request to ``config["batch_url"]`` (default: the URL with ``/batch``), as
``{"items": [{"key": idempotency key, "payload": {...}}]}``, and answer
``{"results": [{"key", "status", "error"?}]}`` — one status per item, judged like a single answer.
"""

import json
import time
from urllib.parse import urljoin

from yici.exchange.connectors import Connector, ConnectorError, Outgoing, Receipt, http


def _encode(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _is_permanent(status: int) -> bool:
    # 408 and 429 mean "later"; every other 4xx (and a 3xx we will not follow) means "not like this".
    return status < 500 and status not in (408, 429)


class HttpJsonConnector(Connector):
    kind = "http-json"
    config_schema = {"url": str, "secret": str, "timeout_seconds": float, "batch_size": int, "batch_url": str}
    secret_fields = ("secret",)
    accepts_batches = True

    def _post(self, url: str, body: bytes, idempotency_key: str) -> http.Response:
        endpoint = self.endpoint
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Yici-Delivery/1",
            "Idempotency-Key": idempotency_key,
            "X-Yici-Timestamp": timestamp,
            "X-Yici-Signature": http.sign(endpoint.secret, timestamp, body),
        }
        try:
            return http.post(url, body, headers=headers, timeout=endpoint.timeout_seconds)
        except http.TransportError as exc:
            raise ConnectorError(f"no answer: {exc}", permanent=exc.blocked, duration_ms=exc.duration_ms) from exc

    def push(self, outgoing: Outgoing) -> Receipt:
        response = self._post(self.endpoint.url, _encode(outgoing.payload), outgoing.idempotency_key)
        receipt = dict(status_code=response.status, duration_ms=response.duration_ms, response_digest=response.digest)
        if 200 <= response.status < 300:
            return Receipt(**receipt)
        snippet = response.body[:200].decode("utf-8", "replace")
        raise ConnectorError(f"HTTP {response.status}: {snippet}".strip(), permanent=_is_permanent(response.status),
                             **receipt)

    def push_many(self, outgoings: list[Outgoing]) -> list[Receipt | ConnectorError]:
        endpoint = self.endpoint
        url = endpoint.config.get("batch_url") or urljoin(endpoint.url.rstrip("/") + "/", "batch")
        body = _encode({"items": [{"key": o.idempotency_key, "payload": o.payload} for o in outgoings]})
        batch_key = "batch-" + http.digest(b"".join(o.idempotency_key.encode() for o in outgoings))[:40]
        response = self._post(url, body, batch_key)
        common = dict(duration_ms=response.duration_ms, response_digest=response.digest)
        if not 200 <= response.status < 300:
            snippet = response.body[:200].decode("utf-8", "replace")
            error = ConnectorError(f"HTTP {response.status}: {snippet}".strip(),
                                   permanent=_is_permanent(response.status), status_code=response.status, **common)
            return [error] * len(outgoings)
        try:
            results = {str(r["key"]): r for r in json.loads(response.body)["results"] if isinstance(r, dict)}
        except (ValueError, KeyError, TypeError) as exc:
            # A garbled answer: the items may or may not have landed; the keys make a retry safe.
            raise ConnectorError(f"the batch answer is not the agreed JSON: {exc}", status_code=response.status,
                                 **common) from exc
        answers: list[Receipt | ConnectorError] = []
        for outgoing in outgoings:
            result = results.get(outgoing.idempotency_key)
            status = result.get("status") if result else None
            if not isinstance(status, int):
                answers.append(ConnectorError("the batch answer says nothing about this item", **common))
            elif 200 <= status < 300:
                answers.append(Receipt(status_code=status, **common))
            else:
                answers.append(ConnectorError(f"HTTP {status}: {str(result.get('error', ''))[:200]}".strip(),
                                              permanent=_is_permanent(status), status_code=status, **common))
        return answers
