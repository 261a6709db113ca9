"""Connectors: how a delivery reaches a line system, one module per kind behind one interface.

``Connector.push(outgoing)`` returns a ``Receipt`` on success and raises ``ConnectorError`` with
``permanent=True`` when sending again cannot help (the system refused the message) and
``permanent=False`` when it may (the system was down, slow or unreachable). Kinds are registered in
``CONNECTORS`` by dotted path and imported only when first used.
"""

from dataclasses import dataclass, field

from django.utils.module_loading import import_string

CONNECTORS: dict[str, str] = {
    "http-json": "yici.exchange.connectors.http_json.HttpJsonConnector",
    "spreadsheet": "yici.exchange.connectors.spreadsheet.SpreadsheetConnector",
    "scim": "yici.exchange.connectors.scim.ScimConnector",
}


class ConnectorError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, status_code: int | None = None,
                 duration_ms: int = 0, response_digest: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status_code = status_code
        self.duration_ms = duration_ms
        self.response_digest = response_digest


@dataclass(frozen=True)
class Outgoing:
    """What a connector sends: the payload in the system's vocabulary and the delivery's key."""

    payload: dict
    idempotency_key: str
    delivery_id: int | None = None
    entity: str = ""
    golden_id: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class Receipt:
    status_code: int | None = None
    duration_ms: int = 0
    response_digest: str = ""
    extra: dict = field(default_factory=dict)


class Connector:
    """Base class. ``config_schema`` names the endpoint settings a kind needs; ``secret_fields`` are never shown."""

    kind = ""
    config_schema: dict[str, type] = {}
    secret_fields: tuple[str, ...] = ()

    def __init__(self, endpoint):
        self.endpoint = endpoint

    # True when ``push_many`` sends several deliveries in one request (the endpoint's
    # ``config["batch_size"]`` then says how many).
    accepts_batches = False

    def push(self, outgoing: Outgoing) -> Receipt:  # pragma: no cover - interface
        raise NotImplementedError

    def push_many(self, outgoings: list[Outgoing]) -> list["Receipt | ConnectorError"]:
        """One answer per delivery, in order; raise ``ConnectorError`` if nothing was answered at all."""
        answers: list[Receipt | ConnectorError] = []
        for outgoing in outgoings:
            try:
                answers.append(self.push(outgoing))
            except ConnectorError as exc:
                answers.append(exc)
        return answers


def connector_class(kind: str) -> type[Connector]:
    try:
        path = CONNECTORS[kind]
    except KeyError:
        raise ConnectorError(f"unknown connector kind {kind!r}", permanent=True) from None
    return import_string(path)


def get_connector(endpoint) -> Connector:
    return connector_class(endpoint.kind)(endpoint)
