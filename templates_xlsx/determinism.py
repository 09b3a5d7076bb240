"""Write workbooks byte-identically for the same content (fixed zip timestamps and doc properties)."""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

FIXED_TIME = dt.datetime(2026, 1, 1, 0, 0, 0)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MODIFIED = re.compile(rb"<dcterms:modified([^>]*)>[^<]*</dcterms:modified>")


def save_deterministic(wb, path: Path | str) -> bytes:
    """Save an openpyxl workbook so equal content gives equal bytes; returns the bytes written."""
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.lastModifiedBy = "jixiao"
    wb.properties.creator = "jixiao"
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        core = z.read("docProps/core.xml")
    # openpyxl stamps dcterms:modified with the wall clock on every save, whatever the property says
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    core = _MODIFIED.sub(lambda m: b"<dcterms:modified" + m.group(1) + b">" + stamp + b"</dcterms:modified>", core)
    data = normalize_zip(data, replace={"docProps/core.xml": core})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)
    return data


def normalize_zip(data: bytes, replace: dict[str, bytes] | None = None) -> bytes:
    """Re-zip with fixed entry timestamps (and optionally replaced entries), keeping entry order."""
    replace = replace or {}
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = replace.get(info.filename, src.read(info.filename))
            zi = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, body)
    return out.getvalue()
