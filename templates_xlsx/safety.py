"""Cheap pre-checks before any parser touches a file: size, real format, zip directory sanity."""
from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from expectations.findings import Finding, make

MB = 2 ** 20
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
_ENC_NAME = "EncryptionInfo".encode("utf-16-le") + b"\x00\x00"


@dataclass(frozen=True)
class Limits:
    """Caps applied before parsing (defaults per docs/tech-notes §6)."""

    max_file_bytes: int = 20 * MB
    max_entries: int = 1000
    max_total_uncompressed: int = 200 * MB
    big_entry_bytes: int = 10 * MB
    max_ratio: float = 100.0


DEFAULT_LIMITS = Limits(max_file_bytes=int(os.environ.get("JIXIAO_MAX_FILE_MB", "20")) * MB)


def _mb(n: int) -> str:
    return f"{n / MB:.1f} MB"


def sniff(head: bytes) -> str:
    """Format from leading bytes: 'zip', 'ole' or 'unknown'."""
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if head.startswith(OLE_MAGIC):
        return "ole"
    return "unknown"


def _describe(head: bytes) -> str:
    """A short Chinese description of what a non-workbook file looks like."""
    known = [(b"\x89PNG", "PNG 图片"), (b"\xff\xd8\xff", "JPEG 图片"), (b"%PDF", "PDF 文档"), (b"GIF8", "GIF 图片"),
             (b"Rar!", "RAR 压缩包"), (b"7z\xbc\xaf", "7z 压缩包"), (b"\x1f\x8b", "gzip 压缩包"),
             (b"{\\rtf", "RTF 文档")]
    for magic, what in known:
        if head.startswith(magic):
            return f"实际为{what}"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<html", b"<!doctype", b"<?xml", b"<table")):
        return "实际为网页/XML 文本，可能是另存为网页格式"
    if not head:
        return "文件为空"
    return "文件头无法识别，可能是 CSV/文本或其他格式"


def ole_is_encrypted(data: bytes) -> bool:
    """True when an OLE compound file holds an EncryptionInfo stream (a password-encrypted OOXML)."""
    start = 0
    while True:
        pos = data.find(_ENC_NAME, start)
        if pos < 0:
            return False
        # directory entries are 128-byte aligned; name length (bytes incl. NUL) sits at offset 64
        if pos % 128 == 0 and data[pos + 64:pos + 66] == b"\x1e\x00":
            return True
        start = pos + 1


def _unsafe_name(name: str) -> bool:
    """Absolute, drive-qualified or parent-escaping entry names."""
    n = name.replace("\\", "/")
    if n.startswith("/") or (len(n) > 1 and n[1] == ":") or "\x00" in n:
        return True
    return ".." in n.split("/")


def check_zip(path: Path, original_name: str, limits: Limits = DEFAULT_LIMITS) -> Finding | None:
    """Zip directory checks (entry count, declared sizes, ratios, entry names) without decompressing."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if not infos:
                return make("unreadable-workbook", file=original_name, detail="压缩包为空")
            if len(infos) > limits.max_entries:
                return make("unsafe-archive", file=original_name, detail=f"包含 {len(infos)} 个条目")
            total = sum(i.file_size for i in infos)
            if total > limits.max_total_uncompressed:
                return make("unsafe-archive", file=original_name, detail=f"解压后共 {_mb(total)}")
            for i in infos:
                if _unsafe_name(i.filename):
                    return make("unsafe-archive", file=original_name, detail=f"条目路径非法：{i.filename[:80]}")
                ratio = i.file_size / max(i.compress_size, 1)
                if i.file_size > limits.big_entry_bytes and ratio > limits.max_ratio:
                    return make("unsafe-archive", file=original_name,
                                detail=f"条目 {i.filename[:80]} 解压后 {_mb(i.file_size)}，压缩比 {ratio:.0f}:1")
            names = {i.filename for i in infos}
            if "mimetype" in names:
                mime = z.read("mimetype")[:200].strip()
                if mime == ODS_MIME:
                    return None
                return make("unknown-format", file=original_name,
                            detail=f"为 {mime.decode('ascii', 'replace')[:60]} 文档，不是电子表格")
            if "[Content_Types].xml" not in names:
                return make("unknown-format", file=original_name, detail="压缩包不是 Office 文档")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        return make("unreadable-workbook", file=original_name, detail=f"压缩结构损坏：{type(e).__name__}")
    return None


def precheck(path: Path, original_name: str, limits: Limits = DEFAULT_LIMITS) -> Finding | None:
    """One finding rejecting the file before parsing, or None when it may be parsed."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return make("unknown-format", file=original_name, detail="不是普通文件")
        size = st.st_size
        if size > limits.max_file_bytes:
            return make("file-too-large", file=original_name, value=_mb(size), expected=_mb(limits.max_file_bytes))
        with path.open("rb") as fh:
            head = fh.read(8)
            kind = sniff(head)
            if kind == "ole":
                fh.seek(0)
                if ole_is_encrypted(fh.read()):
                    return make("encrypted-workbook", file=original_name)
                return None  # legacy .xls: allowed, read by calamine
    except OSError as e:
        return make("unreadable-workbook", file=original_name, detail=f"无法打开文件：{type(e).__name__}")
    if kind == "unknown":
        return make("unknown-format", file=original_name, detail=_describe(head))
    return check_zip(path, original_name, limits)


def file_format(path: Path) -> str:
    """'xlsx', 'ods', 'xls' or 'unknown' (call after precheck passed)."""
    with Path(path).open("rb") as fh:
        kind = sniff(fh.read(8))
    if kind == "ole":
        return "xls"
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as z:
                if "mimetype" in z.namelist():
                    return "ods"
        except zipfile.BadZipFile:
            return "unknown"
        return "xlsx"
    return "unknown"
