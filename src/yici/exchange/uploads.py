"""Imports started from the web page: upload → mapping preview → confirm → background run.

The uploaded file waits between the steps in ``MEDIA_ROOT/imports/<sha256>`` (never in the
session), and what the user chose travels in a signed token bound to that user. Confirming
remembers the user's corrections (``mapping_confirm``), queues an ``ImportBatch`` in the
*waiting* state and enqueues ``exchange.tasks.import_batch`` after commit; the task fills that
same batch, so the page the user lands on can follow it from waiting to imported.
"""

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.catalog.mapping import header_key, mapping_confirm
from yici.common.files import content_path, content_store
from yici.exchange import imports
from yici.exchange.imports import ImportError_, ImportPlan, import_prepare
from yici.exchange.models import ImportBatch, ImportStatus, LineSystem

logger = logging.getLogger(__name__)

UPLOAD_DIR = "imports"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
TOKEN_SALT = "yici.exchange.upload"
TOKEN_MAX_AGE = 24 * 3600


# --- the file between the steps ----------------------------------------------------------------

def upload_path(sha256: str) -> Path:
    return content_path(UPLOAD_DIR, sha256)


def upload_store(data: bytes) -> str:
    """Keep ``data`` under its sha256 (written atomically); returns the digest."""
    return content_store(UPLOAD_DIR, data)


def upload_read(sha256: str) -> bytes:
    try:
        return upload_path(sha256).read_bytes()
    except (OSError, ValueError):
        raise ImportError_(_("The uploaded file is no longer here; upload it again.")) from None


def upload_discard(sha256: str) -> None:
    try:
        upload_path(sha256).unlink(missing_ok=True)
    except (OSError, ValueError):
        logger.warning("could not remove the upload %s", sha256)


@dataclass(frozen=True)
class Upload:
    """An uploaded file and what the user said about it, carried between the steps in a signed token."""

    sha256: str
    filename: str
    system_code: str
    system_name: str
    entity: str
    sheet: str
    area_code: str
    user_id: int

    def token(self) -> str:
        return signing.dumps(asdict(self), salt=TOKEN_SALT, compress=True)

    @classmethod
    def from_token(cls, token: str, *, user) -> "Upload | None":
        """The upload behind ``token`` if it is intact, recent and ``user``'s own; else None."""
        try:
            data = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
            upload = cls(**data)
        except (signing.BadSignature, TypeError):
            return None
        return upload if upload.user_id == user.pk else None

    def plan(self, *, overrides: dict[str, str | None] | None = None) -> ImportPlan:
        """Read and map the kept file again (raises ``ImportError_``, e.g. when it is gone)."""
        return import_prepare(
            data=upload_read(self.sha256), filename=self.filename, system_code=self.system_code,
            entity=self.entity or None, sheet=self.sheet or None, overrides=overrides, area_code=self.area_code,
        )


def upload_prepare(
    *, data: bytes, filename: str, system_code: str, system_name: str = "", entity: str = "", sheet: str = "",
    area_code: str = "", actor,
) -> tuple[Upload, ImportPlan]:
    """Read and map an uploaded file; keep it for the next step only if it can be imported.

    Raises ``ImportError_`` (one line) for a file that cannot be imported; then nothing is stored.
    """
    plan = import_prepare(
        data=data, filename=filename, system_code=system_code, entity=entity or None, sheet=sheet or None,
        area_code=area_code,
    )
    digest = upload_store(data)
    upload = Upload(
        sha256=digest, filename=Path(filename).name[:255], system_code=system_code, system_name=system_name,
        entity=entity, sheet=sheet, area_code=area_code, user_id=actor.pk,
    )
    return upload, plan


# --- confirm: remember corrections, queue the batch ---------------------------------------------

@transaction.atomic
def import_confirm(
    *, upload: Upload, plan: ImportPlan, choices: dict[str, str | None], actor
) -> tuple[ImportBatch, bool]:
    """Apply the user's column choices (letter → element code or None) and queue the import.

    Each choice that differs from the proposed mapping is remembered for this system's files
    (``mapping_confirm``). Returns the batch and whether this file had already been imported (then
    nothing is queued and the earlier batch is returned).
    """
    changed = {c.letter: choices[c.letter] for c in plan.columns if c.letter in choices and choices[c.letter] != c.element}
    for column in plan.columns:
        if column.letter in changed and header_key(column.header_path):
            mapping_confirm(header_path=column.header_path, context=upload.system_code,
                            element_code=changed[column.letter], actor=actor)
    final = upload.plan(overrides=changed)
    system = _system(upload, actor)
    key = {"system": system, "sha256": final.sha256, "sheet_name": final.table.sheet_name or "", "entity": final.entity}
    existing = ImportBatch.objects.select_for_update().filter(**key).first()
    if existing is not None:
        if existing.status == ImportStatus.DONE:
            return existing, True
        if existing.status in (ImportStatus.PENDING, ImportStatus.RUNNING):
            return existing, False  # already on its way (a second click)
        existing.delete()  # a failed attempt: try again
    batch = ImportBatch.objects.create(
        **key, filename=final.filename[:255], area_code=final.area_code, header_rows=final.table.header_rows,
        first_data_row=final.table.first_data_row, mapping=[c.as_json() for c in final.columns],
        status=ImportStatus.PENDING, created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    from yici.exchange.tasks import import_batch

    transaction.on_commit(lambda: import_batch.enqueue(batch.pk, changed, getattr(actor, "pk", None)))
    return batch, False


def _system(upload: Upload, actor) -> LineSystem:
    return imports.line_system_for_import(
        upload.system_code, name=upload.system_name, department=getattr(actor, "department", None)
    )


# --- the background run ----------------------------------------------------------------------------

def import_execute(*, batch_id: int, overrides: dict[str, str | None], actor=None) -> ImportBatch | None:
    """Store the rows of a waiting batch, then link them into the registry (``reconcile``).

    Claims the batch with a compare-and-set, so two workers never run it twice. A file that can no
    longer be imported marks the batch failed with the one-line reason; nothing is stored then.
    """
    if not ImportBatch.objects.filter(pk=batch_id, status=ImportStatus.PENDING).update(status=ImportStatus.RUNNING):
        return None
    batch = ImportBatch.objects.select_related("system").get(pk=batch_id)
    try:
        plan = import_prepare(
            data=upload_read(batch.sha256), filename=batch.filename, system_code=batch.system.code,
            entity=batch.entity, sheet=batch.sheet_name or None, overrides=overrides, area_code=batch.area_code,
        )
        imports.import_run(plan, actor=actor, batch=batch)
    except ImportError_ as exc:
        _fail(batch, str(exc))
        return batch
    except Exception:
        logger.exception("import of batch %s failed", batch_id)
        _fail(batch, _("The import failed unexpectedly; nothing was stored."))
        raise
    upload_discard(batch.sha256)
    from yici.registry.reconcile import reconcile

    try:
        reconcile(actor=actor)
    except Exception:
        logger.exception("linking batch %s failed", batch_id)
        batch.error = _("The rows are stored, but linking them into the registry failed; run `yici reconcile`.")
        batch.save(update_fields=["error"])
    return batch


def _fail(batch: ImportBatch, message: str) -> None:
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportStatus.FAILED, error=message, finished_at=timezone.now())
    batch.refresh_from_db()


