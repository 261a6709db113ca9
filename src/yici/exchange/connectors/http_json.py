"""``http-json``: POST the payload as JSON, signed, with the delivery's idempotency key."""

import json
import time

from yici.exchange.connectors import Connector, ConnectorError, Outgoing, Receipt, http


class HttpJsonConnector(Connector):
    kind = "http-json"
    config_schema = {"url": str, "secret": str, "timeout_seconds": float}
    secret_fields = ("secret",)

    def push(self, outgoing: Outgoing) -> Receipt:
        endpoint = self.endpoint
        body = json.dumps(outgoing.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Yici-Delivery/1",
            "Idempotency-Key": outgoing.idempotency_key,
            "X-Yici-Timestamp": timestamp,
            "X-Yici-Signature": http.sign(endpoint.secret, timestamp, body),
        }
        try:
            response = http.post(endpoint.url, body, headers=headers, timeout=endpoint.timeout_seconds)
        except http.TransportError as exc:
            raise ConnectorError(f"no answer: {exc}", permanent=exc.blocked, duration_ms=exc.duration_ms) from exc
        receipt = dict(status_code=response.status, duration_ms=response.duration_ms, response_digest=response.digest)
        if 200 <= response.status < 300:
            return Receipt(**receipt)
        snippet = response.body[:200].decode("utf-8", "replace")
        # 408 and 429 mean "later"; every other 4xx (and a 3xx we will not follow) means "not like this".
        permanent = response.status < 500 and response.status not in (408, 429)
        raise ConnectorError(f"HTTP {response.status}: {snippet}".strip(), permanent=permanent, **receipt)
