"""``spreadsheet``: for systems that only take uploads.

Each delivery is staged as its record's latest row for the current period (day, week or month,
``config["period"]``); ``yici.exchange.spreadsheets.spreadsheet_export`` turns a period's rows into
a workbook in the system's own import template, keeps it for download and writes it to the
system's drop folder. Staging is the "delivery": it cannot fail the way a network can, and a
newer version of a record replaces the older one in the same period.
"""

import datetime

from django.utils import timezone

from yici.exchange.connectors import Connector, ConnectorError, Outgoing, Receipt

PERIODS = ("day", "week", "month")


def period_key(kind: str, day: datetime.date) -> str:
    if kind == "day":
        return day.isoformat()
    if kind == "week":
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day:%Y-%m}"


class SpreadsheetConnector(Connector):
    kind = "spreadsheet"
    config_schema = {"period": str, "drop_dir": str, "template_sha256": str, "template_filename": str}
    accepts_batches = True

    def push(self, outgoing: Outgoing) -> Receipt:
        return self.push_many([outgoing])[0]

    def push_many(self, outgoings: list[Outgoing]) -> list[Receipt | ConnectorError]:
        from yici.exchange.models import SpreadsheetRow

        kind = self.endpoint.config.get("period", "month")
        if kind not in PERIODS:
            raise ConnectorError(f"unknown period {kind!r} (day, week or month)", permanent=True)
        now = timezone.now()
        period = period_key(kind, timezone.localdate(now))
        answers: list[Receipt | ConnectorError] = []
        for outgoing in outgoings:
            if not outgoing.entity or outgoing.golden_id is None:
                answers.append(ConnectorError("only registry records can be staged in a workbook", permanent=True))
                continue
            existing = SpreadsheetRow.objects.filter(
                system_id=self.endpoint.system_id, period=period, entity=outgoing.entity, golden_id=outgoing.golden_id
            ).first()
            data = dict(outgoing.payload.get("data") or {})
            if existing is None:
                SpreadsheetRow.objects.create(system_id=self.endpoint.system_id, period=period, entity=outgoing.entity,
                                              golden_id=outgoing.golden_id, version=outgoing.version or 0, data=data,
                                              staged_at=now)
            elif (outgoing.version or 0) >= existing.version:
                existing.version, existing.data, existing.staged_at = outgoing.version or 0, data, now
                existing.save(update_fields=["version", "data", "staged_at"])
            answers.append(Receipt(extra={"period": period}))
        return answers
