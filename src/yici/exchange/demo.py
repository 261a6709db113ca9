"""The demo county's subscribed line systems: three simulated systems and one that takes workbooks.

``yici serve`` starts a simulator for each system with a port (when the demo is loaded), with the
schema written here and the demo secret below. The secrets are for the demo only: a real system's
secret is typed into its page and stored encrypted.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from yici.exchange.models import LineSystem
from yici.exchange.models_outbox import FieldMapping, LineSystemEndpoint, Subscription, ValueTransform


@dataclass(frozen=True)
class DemoSystem:
    code: str
    name: str
    department: str
    port: int | None  # None: no simulator (the spreadsheet system)
    kind: str
    # entity → [(element code, their field, transform, date format)]
    fields: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)

    @property
    def secret(self) -> str:
        return f"demo-{self.code}-2026"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/changes" if self.port else ""


DEMO_SYSTEMS = [
    DemoSystem("zhujian-housing", "住建 农房管理系统(模拟)", "zhujian", 8101, "http-json", {
        "house": [("house.code", "FWBH", "", ""), ("house.address", "FWDZ", "", ""),
                  ("house.structure", "JGLX", ValueTransform.CODE, ""), ("house.floors", "CS", "", ""),
                  ("house.built_year", "JZND", "", ""), ("house.safety_level", "AQDJ", ValueTransform.CODE, ""),
                  ("house.owner_name", "CQRXM", "", "")],
    }),
    DemoSystem("minzheng-civil", "民政 社会救助系统(模拟)", "minzheng", 8102, "http-json", {
        "person": [("person.name", "xm", "", ""), ("person.id_number", "sfzh", "", ""),
                   ("person.gender", "xb", ValueTransform.CODE, ""), ("person.birth_date", "csrq", ValueTransform.DATE, "%Y%m%d"),
                   ("person.phone", "lxdh", "", ""), ("person.low_income", "sfdb", ValueTransform.CODE, ""),
                   ("person.extreme_poverty", "sftk", ValueTransform.CODE, ""),
                   ("person.disability_category", "cjlb", ValueTransform.CODE, "")],
    }),
    DemoSystem("wenlv-culture", "文旅 文化礼堂系统(模拟)", "wenlv", 8103, "http-json", {
        "place": [("place.code", "cdbh", "", ""), ("place.name", "cdmc", "", ""), ("place.type", "cdlx", "", ""),
                  ("place.manager_name", "fzr", "", ""), ("place.manager_phone", "fzrdh", "", "")],
        "person": [("person.name", "xm", "", ""), ("person.phone", "lxdh", "", ""),
                   ("person.cultural_participant", "sfhdry", "", "")],
    }),
    DemoSystem("yingji-ledger", "应急 场所安全台账(表格上传)", "yingji", None, "spreadsheet", {
        "place": [("place.code", "场所编号", "", ""), ("place.name", "场所名称", "", ""),
                  ("place.type", "场所类型", "", ""), ("place.manager_name", "负责人", "", ""),
                  ("place.manager_phone", "联系电话", "", "")],
    }),
]


def schema_path(code: str) -> Path:
    return Path(settings.VAR_DIR) / "simulators" / f"{code}.schema.json"


def load_demo_line_systems() -> list[str]:
    """Create (or refresh) the demo's subscribed line systems; returns their codes."""
    from yici.accounts.models import Department

    codes = []
    with transaction.atomic():
        for demo in DEMO_SYSTEMS:
            system, _new = LineSystem.objects.update_or_create(
                code=demo.code, defaults={"name": demo.name, "department": Department.objects.filter(
                    code=demo.department).first(), "description": "demo: subscribed line system",
                    "contact_name": "演示联系人", "contact_phone": "0579-8410000"},
            )
            endpoint = LineSystemEndpoint.objects.filter(system=system).first() or LineSystemEndpoint(system=system)
            endpoint.kind, endpoint.url, endpoint.timeout_seconds = demo.kind, demo.url, 5.0
            endpoint.config = {"batch_size": 100} if demo.kind == "http-json" else {"period": "month"}
            endpoint.secret = demo.secret
            endpoint.save()
            for entity, fields in demo.fields.items():
                Subscription.objects.update_or_create(system=system, entity=entity,
                                                      defaults={"elements": [], "area_prefix": "", "active": True})
                for code, their, transform, date_format in fields:
                    FieldMapping.objects.update_or_create(system=system, element_code=code, defaults={
                        "field_name": their, "transform": transform, "date_format": date_format})
            codes.append(demo.code)
    for demo in DEMO_SYSTEMS:
        if demo.port:
            path = schema_path(demo.code)
            path.parent.mkdir(parents=True, exist_ok=True)
            schema = {entity: [their for _c, their, _t, _f in fields] for entity, fields in demo.fields.items()}
            path.write_text(json.dumps(schema, ensure_ascii=False, indent=1), encoding="utf-8")
    return codes


def simulator_commands(yici: str) -> list[list[str]]:
    """The ``yici simulate-line-system`` command lines ``yici serve`` runs for the demo systems."""
    commands = []
    for demo in DEMO_SYSTEMS:
        if not demo.port or not LineSystem.objects.filter(code=demo.code).exists():
            continue
        command = [yici, "simulate-line-system", "--name", demo.code, "--port", str(demo.port),
                   "--secret", demo.secret]
        if schema_path(demo.code).exists():
            command += ["--schema", str(schema_path(demo.code))]
        commands.append(command + sso_arguments(demo))
    return commands


def sso_arguments(demo: DemoSystem) -> list[str]:
    """Single sign-on and provisioning options for a demo simulator (the one-account issue)."""
    from yici.accounts.demo import simulator_sso_arguments

    return simulator_sso_arguments(demo.code)
