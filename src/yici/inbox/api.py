"""The inbox API: line systems send tasks (machine-authenticated); a cadre reads their inbox.

``POST /api/inbox/tasks`` is signed by the line system (``exchange.machine_auth``: ``X-Yici-System``,
``X-Yici-Timestamp``, ``X-Yici-Signature``). A retry carries the same ``Idempotency-Key`` header (or
``external_id``) and is answered with the task stored the first time (200), not stored again.
Answers: 201 admitted, 202 waiting for the burden office, 422 refused — each with the decisions
and their reasons. ``GET /api/inbox/mine`` is the signed-in cadre's open list (session auth).
"""

from datetime import date
from typing import Literal

from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.security import APIKeyHeader, django_auth

from yici.accounts.models import Department
from yici.inbox import selectors, services
from yici.inbox.models import Task, TaskSource, TaskStatus

router = Router(tags=["inbox"])


class LineSystemAuth(APIKeyHeader):
    """Machine authentication: the line system that signed the request, or no access (401).

    Documented in the OpenAPI schema as the ``X-Yici-Signature`` header; ``X-Yici-System`` and
    ``X-Yici-Timestamp`` go with it (``exchange.machine_auth``)."""

    param_name = "X-Yici-Signature"

    def authenticate(self, request, key):
        from yici.exchange.machine_auth import MachineAuthError, line_system_from_request

        try:
            return line_system_from_request(request)
        except MachineAuthError:
            return None


class TaskIn(Schema):
    title: str
    basis: str = ""
    responsible: str = ""
    effort_minutes: int | None = None
    deadline: date
    areas: list[str]
    kind: Literal["form", "report", "action"] = "action"
    instructions: str = ""
    entity: str = ""
    elements: list[str] = []
    population_filter: str = "all"
    demands: list[str] = []
    department: str | None = None
    external_id: str = ""


class DecisionOut(Schema):
    outcome: str
    rule: str
    reason: str


class TaskOut(Schema):
    id: int
    status: str
    reason: str
    duplicate_of: int | None
    villages: int
    decisions: list[DecisionOut]


class ErrorOut(Schema):
    detail: str


def _out(task: Task) -> dict:
    return {
        "id": task.pk, "status": task.status, "reason": task.reason, "duplicate_of": task.duplicate_of_id,
        "villages": task.items.count(),
        "decisions": [{"outcome": d.outcome, "rule": d.rule, "reason": d.reason} for d in task.decisions.all()],
    }


STATUS_CODES = {TaskStatus.ADMITTED: 201, TaskStatus.PENDING_APPROVAL: 202, TaskStatus.REFUSED: 422,
                TaskStatus.REJECTED: 422}


@router.post("/tasks", auth=LineSystemAuth(), response={200: TaskOut, 201: TaskOut, 202: TaskOut, 422: TaskOut,
                                                          400: ErrorOut},
             summary="A line system sends a task to villages (signed; Idempotency-Key makes retries safe)")
def task_create(request, payload: TaskIn):
    system = request.auth
    department = system.department
    if payload.department:
        department = Department.objects.filter(code=payload.department).first()
        if department is None or (system.department_id and department.pk != system.department_id):
            return Status(400, {"detail": f"department {payload.department!r} is not this line system's"})
    if department is None:
        return Status(400, {"detail": "the line system has no department; name one"})
    key = (request.headers.get("Idempotency-Key") or payload.external_id or "").strip()
    spec = services.TaskSpec(
        department=department, title=payload.title, basis=payload.basis, responsible=payload.responsible,
        effort_minutes=payload.effort_minutes, due_date=payload.deadline, area_codes=payload.areas,
        kind=payload.kind, instructions=payload.instructions, entity=payload.entity, elements=payload.elements,
        population_filter=payload.population_filter, demands=payload.demands,
    )
    task, created = services.task_submit(spec=spec, source=TaskSource.API, line_system=system, idempotency_key=key)
    code = STATUS_CODES[task.status]
    # A replay answers as the first time did, except that an admitted task is not created again (200).
    return Status(200 if code == 201 and not created else code, _out(task))


class ItemOut(Schema):
    id: int
    title: str = Field(..., alias="task.title")
    department: str = Field(..., alias="task.department.name")
    kind: str = Field(..., alias="task.kind")
    due_date: date
    effort_minutes: int
    status: str
    report_instance: int | None = Field(None, alias="instance_id")


def _cadre(user):
    if not selectors.can_use_inbox(user):
        raise HttpError(403, "only village cadres have an inbox")
    return user


@router.get("/mine", auth=django_auth, response=list[ItemOut],
            summary="The signed-in cadre's open tasks across all departments, earliest deadline first")
@paginate(LimitOffsetPagination)
def my_items(request):
    return selectors.inbox_items(user=_cadre(request.auth))


@router.get("/mine/{item_id}", auth=django_auth, response=ItemOut, summary="One task of the cadre's village")
def my_item(request, item_id: int):
    return selectors.item_for_user(user=_cadre(request.auth), pk=item_id)
