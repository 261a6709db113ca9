"""Files kept by content: uploads between the steps of a page, report templates."""

import hashlib
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings

_SHA256 = re.compile(r"[0-9a-f]{64}")


def content_path(folder: str, sha256: str) -> Path:
    """Where the file with this digest lives under MEDIA_ROOT/``folder`` (refuses anything but a digest)."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError("not a sha256 digest")
    return Path(settings.MEDIA_ROOT) / folder / sha256


def content_store(folder: str, data: bytes) -> str:
    """Keep ``data`` under its sha256 in ``folder``, written atomically; returns the digest."""
    digest = hashlib.sha256(data).hexdigest()
    path = content_path(folder, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{folder}-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest
