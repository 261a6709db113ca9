"""The line systems' API: pull a record's subscribed fields, push a change back.

Machine-authenticated (``yici.exchange.machine_auth``): the caller is a line system, never a
person, and sees only what it subscribed to, in its own vocabulary.
"""

from ninja import Router
from ninja.errors import HttpError

from yici.exchange.inbound import InboundError, inbound_apply, record_for_system
from yici.exchange.machine_auth import MachineAuthError, line_system_from_request


def line_system_auth(request):
    try:
        return line_system_from_request(request)
    except MachineAuthError as exc:
        raise HttpError(401, str(exc)) from None


router = Router(tags=["line systems"], auth=line_system_auth)


def _refuse(exc: InboundError):
    from django.http import JsonResponse

    return JsonResponse({"detail": exc.message, "errors": exc.errors}, status=exc.status)


@router.get("/records/{entity}/{golden_id}", summary="A record's subscribed fields, in the system's vocabulary",
            description="`purpose` (why the system reads it) is required and logged with every read.")
def pull_record(request, entity: str, golden_id: int, purpose: str = ""):
    try:
        return record_for_system(system=request.auth, entity=entity, golden_id=golden_id, purpose=purpose)
    except InboundError as exc:
        return _refuse(exc)


@router.post("/changes", summary="Send a change back to the registry",
             description=(
                 'Body: `{"entity": "person", "id": <record ID Yici sent> | omitted for a new record, '
                 '"area_code": "<12-digit area code, for a new record>", "data": {"<your field>": value}}`. '
                 "An `Idempotency-Key` header is required; the same key is applied once and answered again."
             ))
def push_change(request):
    import json

    from django.http import JsonResponse

    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return JsonResponse({"detail": "the body is not JSON"}, status=400)
    try:
        result = inbound_apply(system=request.auth, key=request.headers.get("Idempotency-Key", ""), body=body)
    except InboundError as exc:
        return _refuse(exc)
    change = result.change
    if change.status != "applied":
        return JsonResponse({"detail": change.result.get("error", ""), "errors": change.result.get("errors", {}),
                             "replayed": True}, status=change.result.get("status", 422))
    return JsonResponse({**change.result, "replayed": result.replayed}, status=200 if result.replayed else 201)
