"""``scim``: user accounts to a SCIM 2.0 server (RFC 7643/7644); registry changes as ``http-json``.

Endpoint settings: ``config["scim_url"]`` is the SCIM base (``…/scim/v2``); the endpoint's secret is
sent as ``Authorization: Bearer``. Account deliveries (payload ``kind == "yici.account"``) create
the user (``POST /Users``, found first by ``externalId`` so a retry never makes a second one), then
change it with ``PATCH`` (``PatchOp``), disable it with ``active: false`` (a JSON boolean), and keep
its membership of Yici's groups (``role:…``, ``dept:…``) with ``PATCH /Groups``. The remote ``id`` is
stored as soon as the server gives it, so a failure halfway leaves a pending delivery that resumes
where it stopped. An answer that breaks the protocol (no ``id``, not JSON, a string for a boolean …)
is a permanent failure with the reason; 5xx, 408, 429 and no answer are retried.
"""

import json
from urllib.parse import quote

from yici.exchange.connectors import Connector, ConnectorError, Outgoing, Receipt, http
from yici.exchange.connectors.http_json import HttpJsonConnector

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
YICI_SCHEMA = "urn:yici:params:scim:schemas:extension:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MANAGED_GROUP_PREFIXES = ("role:", "dept:")
CONTENT_TYPE = "application/scim+json"


class OutOfSpec(ConnectorError):
    def __init__(self, message: str, **kwargs):
        super().__init__(f"SCIM server answered out of spec: {message}", permanent=True, **kwargs)


def user_resource(payload: dict) -> dict:
    """A SCIM User for an account payload (``yici.accounts.provisioning.account_payload``)."""
    resource = {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA, YICI_SCHEMA],
        "externalId": payload["sub"],
        "userName": payload["username"],
        "displayName": payload["name"],
        "name": {"formatted": payload["name"]},
        "active": bool(payload["active"]),
        "phoneNumbers": [{"value": payload["phone"], "type": "mobile", "primary": True}] if payload.get("phone") else [],
        ENTERPRISE_SCHEMA: {"department": payload.get("department", ""), "organization": payload.get("area_code", "")},
        YICI_SCHEMA: {"areaCode": payload.get("area_code", ""), "areaName": payload.get("area_name", ""),
                      "role": payload.get("role", "")},
    }
    return resource


class ScimClient:
    """The SCIM calls Yici makes, each checked against the protocol."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.base = str((endpoint.config or {}).get("scim_url", "")).rstrip("/")
        if not self.base:
            raise ConnectorError("the scim connector needs config.scim_url (the SCIM base URL)", permanent=True)
        self.duration_ms = 0
        self.last_status: int | None = None
        self.last_digest = ""

    # --- transport ---------------------------------------------------------------------------
    def call(self, method: str, path: str, body: dict | None = None, *, ok=(200,)) -> tuple[int, dict | None]:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Accept": CONTENT_TYPE, "User-Agent": "Yici-SCIM/1"}
        if data is not None:
            headers["Content-Type"] = f"{CONTENT_TYPE}; charset=utf-8"
        secret = self.endpoint.secret
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        try:
            response = http.request(method, self.base + path, data, headers=headers,
                                    timeout=self.endpoint.timeout_seconds)
        except http.TransportError as exc:
            raise ConnectorError(f"no answer from SCIM server: {exc}", permanent=exc.blocked,
                                 duration_ms=self.duration_ms + exc.duration_ms) from exc
        self.duration_ms += response.duration_ms
        self.last_status, self.last_digest = response.status, response.digest
        receipt = dict(status_code=response.status, duration_ms=self.duration_ms, response_digest=response.digest)
        if response.status == 404 and 404 in ok:
            return 404, None
        if response.status in ok:
            if response.status == 204 or not response.body.strip():
                return response.status, None
            try:
                parsed = json.loads(response.body)
            except ValueError:
                raise OutOfSpec(f"{method} {path} answered {response.status} with a body that is not JSON", **receipt) from None
            if not isinstance(parsed, dict):
                raise OutOfSpec(f"{method} {path} answered a JSON {type(parsed).__name__}, not an object", **receipt)
            return response.status, parsed
        detail = _scim_error(response.body)
        if response.status >= 500 or response.status in (408, 429):
            raise ConnectorError(f"SCIM {method} {path}: HTTP {response.status} {detail}".strip(), **receipt)
        if response.status in (401, 403):
            raise ConnectorError(f"SCIM server refused Yici's credentials (HTTP {response.status}) {detail}".strip(),
                                 permanent=True, **receipt)
        raise ConnectorError(f"SCIM {method} {path}: HTTP {response.status} {detail}".strip(), permanent=True, **receipt)

    # --- users -------------------------------------------------------------------------------
    def find_user(self, attribute: str, value: str) -> dict | None:
        query = quote(f'{attribute} eq "{value}"', safe="")
        _status, listing = self.call("GET", f"/Users?filter={query}")
        resources = _list_resources(listing, f"GET /Users?filter={attribute}")
        return resources[0] if resources else None

    def list_users(self, *, page: int = 100) -> list[dict]:
        users, start = [], 1
        while True:
            _status, listing = self.call("GET", f"/Users?startIndex={start}&count={page}")
            resources = _list_resources(listing, "GET /Users")
            users.extend(resources)
            total = listing.get("totalResults", len(users)) if listing else 0
            if not isinstance(total, int) or isinstance(total, bool):
                raise OutOfSpec("totalResults is not an integer")
            if not resources or len(users) >= total:
                return users
            start += len(resources)

    def create_user(self, resource: dict) -> dict:
        status, created = self.call("POST", "/Users", resource, ok=(200, 201, 409))
        if status == 409:  # already there (e.g. made by hand): take it over by user name
            existing = self.find_user("userName", resource["userName"])
            if existing is None:
                raise OutOfSpec("POST /Users answered 409 but no user has that userName")
            return existing
        return _checked_user(created, "POST /Users")

    def get_user(self, user_id: str) -> dict | None:
        status, user = self.call("GET", f"/Users/{quote(user_id, safe='')}", ok=(200, 404))
        return None if status == 404 else _checked_user(user, "GET /Users/{id}")

    def patch_user(self, user_id: str, operations: list[dict]) -> dict | None:
        body = {"schemas": [PATCH_SCHEMA], "Operations": operations}
        status, user = self.call("PATCH", f"/Users/{quote(user_id, safe='')}", body, ok=(200, 204, 404))
        if status == 404:
            return None
        return _checked_user(user, "PATCH /Users/{id}") if user is not None else {"id": user_id}

    # --- groups ------------------------------------------------------------------------------
    def group_id(self, name: str) -> str:
        query = quote(f'displayName eq "{name}"', safe="")
        _status, listing = self.call("GET", f"/Groups?filter={query}")
        resources = _list_resources(listing, "GET /Groups?filter=displayName")
        if resources:
            return _id_of(resources[0], "GET /Groups")
        _status, created = self.call("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name, "members": []},
                                     ok=(200, 201))
        return _id_of(created, "POST /Groups")

    def patch_members(self, group_id: str, operation: dict) -> None:
        body = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        self.call("PATCH", f"/Groups/{quote(group_id, safe='')}", body, ok=(200, 204))

    def receipt(self) -> Receipt:
        return Receipt(status_code=self.last_status, duration_ms=self.duration_ms, response_digest=self.last_digest)


def _scim_error(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(parsed, dict):
        return " ".join(str(parsed.get(k, "")) for k in ("scimType", "detail") if parsed.get(k))
    return ""


def _list_resources(listing: dict | None, what: str) -> list[dict]:
    if listing is None:
        raise OutOfSpec(f"{what} answered without a ListResponse")
    if LIST_SCHEMA not in (listing.get("schemas") or []):
        raise OutOfSpec(f"{what} answered without the ListResponse schema")
    resources = listing.get("Resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise OutOfSpec(f"{what}: Resources is not a list of objects")
    return resources


def _id_of(resource: dict | None, what: str) -> str:
    value = (resource or {}).get("id")
    if not isinstance(value, str) or not value:
        raise OutOfSpec(f"{what} returned a resource without an id")
    return value


def _checked_user(user: dict | None, what: str) -> dict:
    _id_of(user, what)
    if "active" in user and not isinstance(user["active"], bool):
        raise OutOfSpec(f"{what}: active is {user['active']!r}, not a JSON boolean")
    return user


def patch_operations(resource: dict) -> list[dict]:
    """Replace every attribute Yici manages (userName stays: some servers make it immutable)."""
    return [
        {"op": "replace", "path": "displayName", "value": resource["displayName"]},
        {"op": "replace", "path": "name.formatted", "value": resource["name"]["formatted"]},
        {"op": "replace", "path": "active", "value": resource["active"]},
        {"op": "replace", "path": "phoneNumbers", "value": resource["phoneNumbers"]},
        {"op": "replace", "path": "externalId", "value": resource["externalId"]},
        {"op": "replace", "path": ENTERPRISE_SCHEMA, "value": resource[ENTERPRISE_SCHEMA]},
        {"op": "replace", "path": YICI_SCHEMA, "value": resource[YICI_SCHEMA]},
    ]


class ScimConnector(Connector):
    kind = "scim"
    config_schema = {"scim_url": str, "url": str, "secret": str, "timeout_seconds": float}
    secret_fields = ("secret",)

    def push(self, outgoing: Outgoing) -> Receipt:
        payload = outgoing.payload
        if payload.get("kind") != "yici.account":
            if not self.endpoint.url:
                raise ConnectorError("this SCIM system takes accounts only (no URL for registry changes)",
                                     permanent=True)
            return HttpJsonConnector(self.endpoint).push(outgoing)
        from yici.accounts.provisioning import account_confirmed, external_id_for

        client = ScimClient(self.endpoint)
        system = self.endpoint.system
        resource = user_resource(payload)
        user_id = external_id_for(system=system, sub=payload["sub"])
        remote = None
        if not user_id:
            remote = client.find_user("externalId", payload["sub"])
            user_id = _id_of(remote, "GET /Users") if remote else ""
        if payload.get("active"):
            if user_id:
                remote = client.patch_user(user_id, patch_operations(resource))
            if remote is None:  # never made, or deleted on their side: make it
                remote = client.create_user(resource)
                user_id = _id_of(remote, "POST /Users")
            # The remote id is kept at once: a retry after a failure below resumes with PATCH.
            account_confirmed(system=system, payload={**payload, "version": 0}, external_id=user_id)
            self._sync_groups(client, user_id, payload.get("groups", []))
        elif user_id:
            client.patch_user(user_id, [{"op": "replace", "path": "active", "value": False}])
        account_confirmed(system=system, payload=payload, external_id=user_id)
        return client.receipt()

    def _sync_groups(self, client: ScimClient, user_id: str, wanted: list[str]) -> None:
        current = client.get_user(user_id) or {}
        memberships = current.get("groups") or []
        if not isinstance(memberships, list):
            raise OutOfSpec("a user's groups attribute is not a list")
        have = {str(g.get("display", "")): str(g.get("value", "")) for g in memberships if isinstance(g, dict)}
        for name in wanted:
            if name not in have:
                group = client.group_id(name)
                client.patch_members(group, {"op": "add", "path": "members", "value": [{"value": user_id}]})
        for name, group in have.items():
            if name.startswith(MANAGED_GROUP_PREFIXES) and name not in wanted and group:
                client.patch_members(group, {"op": "remove", "path": f'members[value eq "{user_id}"]'})
