"""Uploaded documents: content checks, safe names, metadata stripping, storage, authorised reads.

What a file must pass before anything is stored (RELIABILITY.md §3.8):

1. not empty, not larger than the limit (the message states the limit);
2. its bytes are a PDF, PNG or JPEG (magic bytes; programs, scripts, web pages,
   SVG and archives are named as such in the refusal), of a type allowed for
   this kind of document, and its name's extension matches its content;
3. it parses: PDFs with pypdf (complete, not encrypted, at least one page),
   images with Pillow (verified, fully decoded, not a pixel flood);
4. it is rewritten without identifying metadata: PDFs lose ``/Info``, XMP and
   scripts (pages copied into a fresh document); images are re-encoded
   without EXIF, comments or text chunks.

The original name is sanitised and kept as metadata only; the bytes live under
a random key in the storage backend, outside any static folder. The blob is
written before the database row and deleted again if the transaction fails,
so no row ever points to a missing file and a failure leaves nothing visible.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import unicodedata
import uuid
import warnings
import zipfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from app import policies
from app.exceptions import NotFound, ValidationFailed
from app.extensions import db
from app.integrations.storage import BlobNotFound, StorageError, get_storage
from app.models import Document, DocumentKind, User
from app.services import audit, uow

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 150
DEFAULT_MAX_PIXELS = 40_000_000  # a 40-megapixel scan is plenty for a certificate


@dataclass(frozen=True)
class FileType:
    code: str
    label: str
    content_type: str
    extensions: tuple[str, ...]


PDF = FileType("pdf", "PDF", "application/pdf", (".pdf",))
PNG = FileType("png", "PNG", "image/png", (".png",))
JPEG = FileType("jpeg", "JPEG", "image/jpeg", (".jpg", ".jpeg"))
FILE_TYPES = {t.code: t for t in (PDF, PNG, JPEG)}
LEGAL_TYPES = ("pdf", "png", "jpeg")  # company legal papers, identity documents
PDF_ONLY = ("pdf",)  # CVs and certificates


@dataclass(frozen=True)
class Upload:
    """A file as received: the name the client sent and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class CleanFile:
    """A file that passed every check, rewritten without metadata, ready to store."""

    name: str
    file_type: FileType
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def content_type(self) -> str:
        return self.file_type.content_type


class UploadRejected(ValidationFailed):
    """The file was refused; the message says why and what to upload instead."""


# Names ----------------------------------------------------------------------------------

_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_UNSAFE = re.compile(r'[\\/:*?"<>|;]')


def sanitize_filename(name: str, *, fallback: str = "document") -> str:
    """A display name safe for pages, headers and any file system.

    Keeps only the last path component; drops control, format (RTL override,
    zero-width) and separator characters; replaces characters that are special
    in paths or headers; trims dots and spaces at the ends; avoids Windows
    device names; limits the length while keeping the extension.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(
        " " if unicodedata.category(c) in {"Zs", "Zl", "Zp"} else c
        for c in name
        if unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co", "Cn"} or c == " "
    )
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\s+", " ", name).rstrip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext.strip()[:10]
    stem = stem.strip(" .") or fallback
    if _RESERVED.match(stem):
        stem = "_" + stem
    limit = MAX_NAME_LENGTH - (len(ext) + 1 if ext else 0)
    stem = stem[:limit].rstrip(" .") or fallback
    return f"{stem}.{ext}" if ext else stem


def extension_of(name: str) -> str:
    """The lowercased last extension with its dot (``""`` when there is none)."""
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


# Sizes and labels ---------------------------------------------------------------------


def human_size(n: int) -> str:
    """``10485760`` -> ``"10 MB"`` (binary units, as the limit is configured)."""
    if n >= 1024 * 1024:
        value, unit = n / (1024 * 1024), "MB"
    elif n >= 1024:
        value, unit = n / 1024, "kB"
    else:
        return _("%(n)d bytes", n=n)
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def types_label(allowed: Collection[str]) -> str:
    """``("pdf", "png", "jpeg")`` -> ``"PDF, PNG or JPEG"``."""
    labels = [FILE_TYPES[code].label for code in allowed]
    if len(labels) == 1:
        return labels[0]
    return _("%(list)s or %(last)s", list=", ".join(labels[:-1]), last=labels[-1])


def accept_attribute(allowed: Collection[str]) -> str:
    """The ``accept`` attribute of a file input: ``".pdf,.png,.jpg,.jpeg,application/pdf,..."``."""
    exts = [ext for code in allowed for ext in FILE_TYPES[code].extensions]
    return ",".join(exts + [FILE_TYPES[code].content_type for code in allowed])


def document_max_bytes() -> int:
    """The configured size limit for documents."""
    return int(current_app.config.get("DOCUMENT_MAX_BYTES", 10 * 1024 * 1024))


def upload_hint(allowed: Collection[str]) -> str:
    """The sentence shown under an upload field: allowed types and the limit."""
    return _(
        "%(types)s, up to %(limit)s. The content is checked, and hidden metadata is removed.",
        types=types_label(allowed),
        limit=human_size(document_max_bytes()),
    )


# Content ------------------------------------------------------------------------------

_PROGRAM_MAGIC = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf",
                  b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"#!", b"\x00asm", b"dex\n")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b",
                  b"BZh", b"\xfd7zXZ\x00", b"MSCF", b"\x28\xb5\x2f\xfd")
_MARKUP_HINTS = (b"<!doctype", b"<html", b"<svg", b"<?xml", b"<script", b"<body", b"<head", b"<iframe", b"<meta",
                 b"<!--", b"<a ", b"<img", b"<div")


def sniff(data: bytes) -> str:
    """What the bytes are: ``pdf``, ``png``, ``jpeg``, or ``program``/``archive``/``markup``/``unknown``."""
    head = data[:1024]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(_PROGRAM_MAGIC):
        return "program"
    if head.startswith(_ARCHIVE_MAGIC) or data[257:262] == b"ustar":
        return "archive"
    text = head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n").lower().replace(b"\x00", b"")
    if text.startswith(b"<") or any(hint in text for hint in _MARKUP_HINTS):
        return "markup"
    return "unknown"


def check(
    upload: Upload,
    *,
    allowed: Collection[str] = LEGAL_TYPES,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> CleanFile:
    """Check ``upload`` and return it cleaned, or refuse it.

    :raises UploadRejected: with a message that says what is wrong and what to upload.
    """
    limit = max_bytes if max_bytes is not None else document_max_bytes()
    pixels = max_pixels or int(current_app.config.get("DOCUMENT_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    wanted = types_label(allowed)
    name = sanitize_filename(upload.filename)
    data = upload.data
    if not data:
        raise UploadRejected(_("The file “%(name)s” is empty. Choose the file again and upload it.", name=name))
    if len(data) > limit:
        raise UploadRejected(
            _(
                "The file “%(name)s” is %(size)s; the limit is %(limit)s. Upload a smaller file "
                "(for scans, a lower resolution is usually enough).",
                name=name,
                size=human_size(len(data)),
                limit=human_size(limit),
            )
        )
    kind = sniff(data)
    if kind == "program":
        raise UploadRejected(_("“%(name)s” is a program or script, not a document. Upload a %(types)s file.",
                               name=name, types=wanted))
    if kind == "archive":
        raise UploadRejected(_("“%(name)s” is an archive (ZIP, RAR, 7z, …), which is not accepted. "
                               "Upload each document as a %(types)s file.", name=name, types=wanted))
    if kind == "markup":
        raise UploadRejected(_("“%(name)s” is a web page, SVG or XML file, which is not accepted. "
                               "Upload a %(types)s file.", name=name, types=wanted))
    if kind not in allowed:
        found = FILE_TYPES[kind].label if kind in FILE_TYPES else ""
        if found:
            raise UploadRejected(_("“%(name)s” is a %(found)s file; only %(types)s is accepted for this document.",
                                   name=name, found=found, types=wanted))
        raise UploadRejected(_("“%(name)s” is not a %(types)s file (its content was checked, not only its name).",
                               name=name, types=wanted))
    file_type = FILE_TYPES[kind]
    ext = extension_of(name)
    if ext not in file_type.extensions:
        raise UploadRejected(
            _(
                "“%(name)s” contains a %(found)s file but its name ends in “%(ext)s”. "
                "Rename it to end in “%(right)s” or upload the right file.",
                name=name,
                found=file_type.label,
                ext=ext or _("(no extension)"),
                right=file_type.extensions[0],
            )
        )
    if file_type is PDF:
        clean = _clean_pdf(data, name)
    else:
        clean = _clean_image(data, name, file_type, pixels)
    if len(clean) > limit:  # re-encoding can grow an image slightly
        raise UploadRejected(_("The file “%(name)s” is too large after processing; the limit is %(limit)s.",
                               name=name, limit=human_size(limit)))
    return CleanFile(name=name, file_type=file_type, data=clean, sha256=hashlib.sha256(clean).hexdigest())


def _corrupt(name: str, label: str) -> UploadRejected:
    return UploadRejected(
        _("“%(name)s” could not be read as a %(type)s file; it may be damaged or incomplete. "
          "Save or export it again and upload the new file.", name=name, type=label)
    )


def _clean_pdf(data: bytes, name: str) -> bytes:
    """Parse with pypdf and copy the pages into a fresh document: no /Info, XMP, scripts or attachments."""
    if b"%%EOF" not in data[-2048:]:
        raise _corrupt(name, PDF.label)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadRejected(
                _("“%(name)s” is password-protected or encrypted. Upload a copy without a password.", name=name)
            )
        if len(reader.pages) == 0:
            raise UploadRejected(_("“%(name)s” has no pages.", name=name))
        writer = PdfWriter()
        for page in reader.pages:
            _neutralise_page(writer.add_page(page))
        writer.metadata = None
        out = io.BytesIO()
        writer.write(out)
    except UploadRejected:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on hostile input
        logger.info("PDF refused: %s", exc)
        raise _corrupt(name, PDF.label) from exc
    return out.getvalue()


_PAGE_KEYS_TO_DROP = ("/AA", "/Metadata", "/PieceInfo")
_ANNOT_KEYS_TO_DROP = ("/AA", "/Metadata")
_SAFE_ACTIONS = {"/GoTo", "/URI"}


def _neutralise_page(page: Any) -> None:
    """Drop page-level scripts and metadata, and script/launch actions of annotations."""
    for key in _PAGE_KEYS_TO_DROP:
        if key in page:
            del page[NameObject(key)]
    annots = page.get("/Annots")
    if annots is None:
        return
    for ref in annots.get_object():
        annot = ref.get_object()
        for key in _ANNOT_KEYS_TO_DROP:
            if key in annot:
                del annot[NameObject(key)]
        action = annot.get("/A")
        if action is not None and action.get_object().get("/S") not in _SAFE_ACTIONS:
            del annot[NameObject("/A")]


def _clean_image(data: bytes, name: str, file_type: FileType, max_pixels: int) -> bytes:
    """Verify and decode with Pillow (this format only), refuse pixel floods, re-encode without metadata."""
    fmt = "PNG" if file_type is PNG else "JPEG"
    too_big = UploadRejected(
        _("“%(name)s” has too many pixels to process safely (more than %(mp)d megapixels). "
          "Scan or export it at a lower resolution.", name=name, mp=max_pixels // 1_000_000)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as probe:
                width, height = probe.size
                if width <= 0 or height <= 0:
                    raise _corrupt(name, file_type.label)
                if width * height > max_pixels:
                    raise too_big
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                image.load()
                transparency = image.info.get("transparency")
                upright = ImageOps.exif_transpose(image) or image
                upright.info = {}
                out = io.BytesIO()
                if fmt == "PNG":
                    params: dict[str, Any] = {}
                    if transparency is not None and upright.mode in {"P", "L", "RGB"}:
                        params["transparency"] = transparency
                    upright.save(out, "PNG", optimize=False, **params)
                else:
                    if upright.mode not in {"RGB", "L", "CMYK"}:
                        upright = upright.convert("RGB")
                    upright.save(out, "JPEG", quality=90, optimize=True)
        except UploadRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise too_big from exc
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... on damaged files
            logger.info("Image refused: %s", exc)
            raise _corrupt(name, file_type.label) from exc
    return out.getvalue()


# Storage and rows ---------------------------------------------------------------------


def new_storage_key(prefix: str) -> str:
    """A random key under ``prefix`` (``companies/12/kyc`` -> ``companies/12/kyc/<32 hex>``)."""
    return f"{prefix}/{uuid.uuid4().hex}"


@contextmanager
def stored(clean: CleanFile, *, prefix: str) -> Iterator[str]:
    """Store the blob first and yield its key; if the block fails, delete the blob again.

    Use around the code that writes the row and commits, so that a failed
    transaction leaves no orphan that anyone could see.

    :raises UploadRejected: the storage backend could not take the file.
    """
    storage = get_storage()
    key = new_storage_key(prefix)
    try:
        storage.put(key, clean.data, content_type=clean.content_type)
    except StorageError as exc:
        logger.error("Storing %s failed: %s", key, exc)
        raise UploadRejected(
            _("The file could not be stored just now. Nothing was saved; please try again in a minute.")
        ) from exc
    try:
        yield key
    except BaseException:
        try:
            storage.delete(key)
        except StorageError:
            logger.warning("Could not delete orphan blob %s after a failed transaction", key, exc_info=True)
        raise


def new_document(
    clean: CleanFile,
    *,
    key: str,
    kind: DocumentKind,
    uploaded_by: User,
    company_id: int | None = None,
    expert_id: int | None = None,
) -> Document:
    """Add the row for a stored blob to the session (never commits)."""
    document = Document(
        company_id=company_id,
        expert_id=expert_id,
        kind=kind,
        storage_key=key,
        original_name=clean.name,
        content_type=clean.content_type,
        size_bytes=clean.size,
        sha256=clean.sha256,
        uploaded_by_id=uploaded_by.id,
    )
    db.session.add(document)
    db.session.flush()
    return document


def open_document(document_id: int, *, actor: User, inline: bool = False) -> tuple[Document, bytes]:
    """Read a document for ``actor`` and log the access (``document.downloaded`` / ``document.previewed``).

    Download: staff, the owning company's users, the owning expert. Inline
    preview: staff only. Anyone else learns nothing: the document "does not exist".

    :raises NotFound: no such document, not visible to ``actor``, or its file is gone.
    """
    document = db.session.get(Document, document_id)
    allowed = (
        document is not None
        and (policies.can_preview_document(actor, document) if inline else policies.can_view_document(actor, document))
    )
    if document is None or not allowed:
        raise NotFound(_("This document does not exist."))
    try:
        data = get_storage().get(document.storage_key)
    except BlobNotFound as exc:
        logger.error("Document %s has no blob at %s", document.id, document.storage_key)
        raise NotFound(_("The file of this document is no longer available. Please contact the hub.")) from exc
    audit.record(
        "document.previewed" if inline else "document.downloaded",
        actor=actor,
        entity="documents",
        entity_id=document.id,
        data={"sha256": document.sha256},
    )
    uow.commit()
    return document, data


# Job attachments: CAD, PDF, images, spreadsheets (issue 3) --------------------------------

STEP = FileType("step", "STEP", "model/step", (".step", ".stp"))
IGES = FileType("iges", "IGES", "model/iges", (".iges", ".igs"))
STL = FileType("stl", "STL", "model/stl", (".stl",))
DXF = FileType("dxf", "DXF", "image/vnd.dxf", (".dxf",))
DWG = FileType("dwg", "DWG", "image/vnd.dwg", (".dwg",))
XLSX = FileType("xlsx", "Excel (XLSX)", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                (".xlsx",))
CSV = FileType("csv", "CSV", "text/csv", (".csv",))
FILE_TYPES.update({t.code: t for t in (STEP, IGES, STL, DXF, DWG, XLSX, CSV)})
JOB_TYPES = ("step", "iges", "stl", "dxf", "dwg", "pdf", "png", "jpeg", "xlsx", "csv")
JOB_TYPE_BY_EXTENSION = {ext: FILE_TYPES[code] for code in JOB_TYPES for ext in FILE_TYPES[code].extensions}

# Spreadsheet (ZIP) limits, checked before anything is extracted.
XLSX_MAX_ENTRIES = 2_000
XLSX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
_DXF_START = re.compile(rb"^\s*0[ \t]*\r?\n\s*SECTION\b")
_DWG_START = re.compile(rb"^AC10\d\d")
_TEXT_TYPES = frozenset({"step", "iges", "dxf", "csv"})


def _is_binary_stl(data: bytes) -> bool:
    if len(data) < 134:
        return False
    triangles = int.from_bytes(data[80:84], "little")
    return len(data) == 84 + 50 * triangles


def _refuse_hostile(data: bytes, name: str, wanted: str, *, archive_ok: bool, binary: bool) -> None:
    """Programs, archives (unless expected), web pages and SVG are refused whatever the extension.

    ``binary``: the bytes already have a binary CAD structure, so markup hints in them mean nothing.
    """
    kind = sniff(data)
    if binary and kind == "markup":
        kind = "unknown"
    if kind == "program" or data[:2] == b"MZ" or data[:4] == b"\x7fELF":
        raise UploadRejected(_("“%(name)s” is a program or script, not a document. Upload a %(types)s file.",
                               name=name, types=wanted))
    if kind == "archive" and not archive_ok:
        raise UploadRejected(_("“%(name)s” is an archive (ZIP, RAR, 7z, …), which is not accepted. "
                               "Upload each document as a %(types)s file.", name=name, types=wanted))
    if kind == "markup":
        raise UploadRejected(_("“%(name)s” is a web page, SVG or XML file, which is not accepted. "
                               "Upload a %(types)s file.", name=name, types=wanted))


def _not_this(name: str, file_type: FileType, detail: str) -> UploadRejected:
    return UploadRejected(
        _("“%(name)s” does not contain a valid %(type)s file: %(detail)s. Export it again from your CAD or "
          "office program and upload the new file.", name=name, type=file_type.label, detail=detail)
    )


def _as_text(data: bytes, name: str, file_type: FileType) -> str:
    if b"\x00" in data:
        raise _not_this(name, file_type, _("it contains binary data"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if file_type is CSV:
            raise _not_this(name, file_type, _("it is not UTF-8 text")) from None
        return data.decode("latin-1")


def _check_step(data: bytes, name: str) -> None:
    text = _as_text(data, name, STEP).lstrip()
    if not text.startswith("ISO-10303-21;"):
        raise _not_this(name, STEP, _("it does not start with “ISO-10303-21;”"))
    if "END-ISO-10303-21;" not in text[-4096:]:
        raise _not_this(name, STEP, _("it is incomplete (no “END-ISO-10303-21;” at the end)"))


def _check_iges(data: bytes, name: str) -> None:
    lines = [line.rstrip("\r") for line in _as_text(data, name, IGES).split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise _not_this(name, IGES, _("it is empty"))
    order = "SGDPT"
    position = 0
    for number, line in enumerate(lines, start=1):
        if len(line) != 80:
            raise _not_this(name, IGES, _("line %(n)d is not an 80-column record", n=number))
        section = line[72]
        if section not in order or order.index(section) < position:
            raise _not_this(name, IGES, _("line %(n)d has no valid section letter in column 73", n=number))
        position = order.index(section)
    if lines[0][72] != "S" or lines[-1][72] != "T":
        raise _not_this(name, IGES, _("the start or terminate section is missing"))


def _check_stl(data: bytes, name: str) -> None:
    if _is_binary_stl(data):
        return  # binary STL whose size matches its triangle count (at least one)
    head = data[:512].lstrip()
    if head[:5].lower() == b"solid" and b"\x00" not in data:
        text = data.decode("ascii", errors="replace")
        if "facet" in text[:4096] and "endsolid" in text[-4096:]:
            return
        raise _not_this(name, STL, _("the ASCII STL is incomplete (no facets or no “endsolid”)"))
    if len(data) >= 84:
        triangles = int.from_bytes(data[80:84], "little")
        raise _not_this(name, STL, _("the binary STL declares %(n)d triangles (%(want)d bytes) but has %(got)d bytes",
                                     n=triangles, want=84 + 50 * triangles, got=len(data)))
    raise _not_this(name, STL, _("it is neither ASCII nor binary STL"))


def _check_dxf(data: bytes, name: str) -> None:
    _as_text(data, name, DXF)
    if not _DXF_START.match(data.lstrip(b"\xef\xbb\xbf")):
        raise _not_this(name, DXF, _("it does not start with a “0 / SECTION” group"))


def _check_dwg(data: bytes, name: str) -> None:
    if not _DWG_START.match(data) or len(data) < 128:
        raise _not_this(name, DWG, _("it does not start with an AutoCAD version code (AC10xx)"))


def _check_csv(data: bytes, name: str) -> None:
    _as_text(data, name, CSV)


def _check_xlsx(data: bytes, name: str, max_bytes: int) -> None:
    """A ZIP with [Content_Types].xml and xl/: entry count, declared sizes and names checked before
    extraction, then every entry read in a stream with a byte cap (declared sizes can lie)."""

    if not data.startswith(b"PK\x03\x04"):
        raise _not_this(name, XLSX, _("it is not a ZIP-based Excel workbook"))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _not_this(name, XLSX, _("the workbook is damaged")) from exc
    if len(entries) > XLSX_MAX_ENTRIES:
        raise _not_this(name, XLSX, _("it has too many parts (%(n)d)", n=len(entries)))
    cap = min(XLSX_MAX_UNCOMPRESSED, max(max_bytes * 10, 1024 * 1024))
    if sum(e.file_size for e in entries) > cap:
        raise _not_this(name, XLSX, _("it unpacks to more than %(limit)s (a “zip bomb”)", limit=human_size(cap)))
    names = {e.filename for e in entries}
    for entry in entries:
        entry_name = entry.filename.replace("\\", "/")
        if entry_name.startswith("/") or re.match(r"^[A-Za-z]:", entry_name) or ".." in entry_name.split("/"):
            raise _not_this(name, XLSX, _("it contains a part with an unsafe path (%(part)s)", part=entry_name[:80]))
        if entry.flag_bits & 0x1:
            raise _not_this(name, XLSX, _("it is encrypted"))
        if entry_name.lower().endswith("vbaproject.bin"):
            raise _not_this(name, XLSX, _("it contains macros"))
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise _not_this(name, XLSX, _("it has no workbook parts ([Content_Types].xml and xl/)"))
    total = 0
    try:
        for entry in entries:
            with archive.open(entry) as stream:
                first = True
                while chunk := stream.read(64 * 1024):
                    if first and chunk.startswith(_ARCHIVE_MAGIC):
                        raise _not_this(name, XLSX, _("it contains another archive (%(part)s)",
                                                      part=entry.filename[:80]))
                    first = False
                    total += len(chunk)
                    if total > cap:
                        raise _not_this(name, XLSX, _("it unpacks to more than %(limit)s (a “zip bomb”)",
                                                      limit=human_size(cap)))
    except UploadRejected:
        raise
    except Exception as exc:  # zipfile raises BadZipFile, zlib.error, NotImplementedError, ... on hostile input
        logger.info("XLSX refused: %s", exc)
        raise _not_this(name, XLSX, _("the workbook is damaged or its declared sizes are wrong")) from exc


_JOB_CHECKS = {"step": _check_step, "iges": _check_iges, "stl": _check_stl, "dxf": _check_dxf, "dwg": _check_dwg,
               "csv": _check_csv}


def _has_path_parts(filename: str) -> bool:
    parts = re.split(r"[/\\]", filename or "")
    return len(parts) > 1 or ".." in parts


def job_upload_hint(max_bytes: int) -> str:
    """The sentence under the job attachment field: allowed types and the limit."""
    return _("STEP, IGES, STL, DXF, DWG, PDF, PNG, JPEG, XLSX or CSV, up to %(limit)s each. "
             "The content is checked, and hidden metadata is removed from PDFs and images.",
             limit=human_size(max_bytes))


# Document properties of an Office file: author, last editor, company, manager, times.
_XLSX_PROPERTY_PARTS = {
    "docProps/core.xml": (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/"/>'
    ),
    "docProps/app.xml": (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>'
    ),
}


def _clean_xlsx(data: bytes) -> bytes:
    """Rewrite a checked workbook with empty document properties (who wrote it, for which company).

    Only called after ``_check_xlsx``: the entry count and sizes are already bounded.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == "docProps/custom.xml":
                continue  # custom properties: free text, dropped whole
            payload = _XLSX_PROPERTY_PARTS.get(info.filename) or source.read(info)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, payload)
    return out.getvalue()


def check_job_file(upload: Upload, *, max_bytes: int, max_pixels: int | None = None) -> CleanFile:
    """Check a job attachment by extension allow-list plus content, and clean it where the format allows.

    :raises UploadRejected: with a message naming what is wrong.
    """
    wanted = _("STEP, IGES, STL, DXF, DWG, PDF, PNG, JPEG, XLSX or CSV")
    name = sanitize_filename(upload.filename)
    data = upload.data
    if _has_path_parts(upload.filename):
        raise UploadRejected(_("The file name “%(raw)s” contains folder parts (/, \\ or ..). "
                               "Upload the file under its plain name.", raw=(upload.filename or "")[:120]))
    if not data:
        raise UploadRejected(_("The file “%(name)s” is empty. Choose the file again and upload it.", name=name))
    if len(data) > max_bytes:
        raise UploadRejected(_("The file “%(name)s” is %(size)s; the limit is %(limit)s. Upload a smaller file.",
                               name=name, size=human_size(len(data)), limit=human_size(max_bytes)))
    ext = extension_of(name)
    file_type = JOB_TYPE_BY_EXTENSION.get(ext)
    if file_type is None:
        raise UploadRejected(_("“%(name)s” has a type that is not accepted (“%(ext)s”). Upload a %(types)s file.",
                               name=name, ext=ext or _("(no extension)"), types=wanted))
    binary = (file_type is DWG and bool(_DWG_START.match(data))) or (file_type is STL and _is_binary_stl(data))
    _refuse_hostile(data, name, wanted, archive_ok=file_type is XLSX, binary=binary)
    if file_type in (PDF, PNG, JPEG):
        if sniff(data) != file_type.code:
            raise _not_this(name, file_type, _("its content is not %(type)s", type=file_type.label))
        pixels = max_pixels or int(current_app.config.get("DOCUMENT_MAX_PIXELS", DEFAULT_MAX_PIXELS))
        clean = _clean_pdf(data, name) if file_type is PDF else _clean_image(data, name, file_type, pixels)
        if len(clean) > max_bytes:
            raise UploadRejected(_("The file “%(name)s” is too large after processing; the limit is %(limit)s.",
                                   name=name, limit=human_size(max_bytes)))
    elif file_type is XLSX:
        _check_xlsx(data, name, max_bytes)
        clean = _clean_xlsx(data)
    else:
        _JOB_CHECKS[file_type.code](data, name)
        clean = data
    return CleanFile(name=name, file_type=file_type, data=clean, sha256=hashlib.sha256(clean).hexdigest())
