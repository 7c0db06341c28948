"""The upload attack corpus (RELIABILITY.md §3.8): every file is generated here, no binaries committed."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from pypdf import PdfReader, PdfWriter

from app.exceptions import NotFound
from app.extensions import db
from app.integrations.storage import get_storage
from app.models import AuditEvent, DocumentKind
from app.services import uploads
from app.services.uploads import Upload, UploadRejected, check, sanitize_filename, sniff
from tests import factories


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` pixels but carries almost no data (a pixel flood)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def exe_bytes() -> bytes:
    header = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
    return header + b"\x00" * 50 + b"This program cannot be run in DOS mode"


# Names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\system.ini.pdf", "system.ini.pdf"),
        ("C:\\Users\\me\\Desktop\\Handelsregister.pdf", "Handelsregister.pdf"),
        ("certif\x00icate.pdf", "certificate.pdf"),
        ("report.pdf. ", "report.pdf"),
        ("...hidden.pdf", "hidden.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ("lpt1", "_lpt1"),
        ('my "quoted" name.pdf', "my _quoted_ name.pdf"),
        ("", "document"),
        (".pdf", "document.pdf"),
        ("Zertifikat Müller.pdf", "Zertifikat Müller.pdf"),
    ],
)
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_drops_rtl_override_and_zero_width():
    # "invoice<RLO>fdp.exe" displays as "invoiceexe.pdf" in a browser.
    name = sanitize_filename("invoice\u202efdp.exe")
    assert "\u202e" not in name
    assert name == "invoicefdp.exe"
    assert sanitize_filename("a\u200bb\u2066c.pdf") == "abc.pdf"


def test_sanitize_filename_blocks_header_injection():
    name = sanitize_filename('x.pdf"\r\nContent-Type: text/html\r\n\r\n<script>.pdf')
    assert "\r" not in name and "\n" not in name and '"' not in name
    assert name.endswith(".pdf")


def test_sanitize_filename_limits_length_and_keeps_extension():
    name = sanitize_filename("a" * 1024 + ".pdf")
    assert len(name) == uploads.MAX_NAME_LENGTH
    assert name.endswith(".pdf")


# Size and type ----------------------------------------------------------------------------------


def test_empty_file_is_refused(app):
    with pytest.raises(UploadRejected, match="is empty"):
        check(Upload("empty.pdf", b""))


def test_one_byte_over_the_limit_is_refused_with_the_limit_stated(app):
    data = factories.pdf_bytes()
    with pytest.raises(UploadRejected) as exc:
        check(Upload("big.pdf", data), max_bytes=len(data) - 1)
    assert "the limit is" in str(exc.value)
    assert f"{len(data) - 1} bytes" in str(exc.value)


def test_limit_comes_from_config(app):
    app.config["DOCUMENT_MAX_BYTES"] = 3 * 1024 * 1024
    with pytest.raises(UploadRejected, match="the limit is 3 MB"):
        check(Upload("big.pdf", b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024)))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("invoice.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "web page"),
        ("invoice.pdf", b"  \n<html><body onload=alert(1)>", "web page"),
        ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "web page, SVG"),
        ("logo.png", b'<?xml version="1.0"?><svg><script>alert(1)</script></svg>', "SVG"),
        ("invoice.pdf", exe_bytes(), "program or script"),
        ("scan.pdf.exe", exe_bytes(), "program or script"),
        ("invoice.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 40, "program or script"),
        ("invoice.pdf", b"#!/bin/sh\nrm -rf /\n", "program or script"),
        ("invoice.pdf", b"<?php system($_GET['c']); ?>", "web page"),
        ("docs.pdf", b"PK\x03\x04" + b"\x00" * 40, "archive"),
        ("docs.pdf", b"\x1f\x8b\x08\x00" + b"\x00" * 20, "archive"),
        ("docs.pdf", b"Rar!\x1a\x07\x00" + b"\x00" * 20, "archive"),
        ("anim.png", b"GIF89a\x01\x00\x01\x00" + b"\x00" * 20, "not a PDF, PNG or JPEG"),
        ("notes.pdf", b"just some text", "not a PDF, PNG or JPEG"),
    ],
)
def test_dangerous_or_unknown_content_is_refused(app, name, data, message):
    with pytest.raises(UploadRejected, match=message):
        check(Upload(name, data))


def test_double_extension_with_pdf_content_is_refused(app):
    with pytest.raises(UploadRejected, match="ends in “.exe”"):
        check(Upload("scan.pdf.exe", factories.pdf_bytes()))


def test_extension_must_match_content(app):
    with pytest.raises(UploadRejected, match="contains a PNG file but its name ends in “.pdf”"):
        check(Upload("scan.pdf", factories.image_bytes("PNG")))
    with pytest.raises(UploadRejected, match="no extension"):
        check(Upload("scan", factories.pdf_bytes()))


def test_type_not_allowed_for_this_kind(app):
    with pytest.raises(UploadRejected, match="only PDF is accepted"):
        check(Upload("cv.png", factories.image_bytes("PNG")), allowed=uploads.PDF_ONLY)


@pytest.mark.parametrize("name", ["scan.jpg", "scan.jpeg", "SCAN.JPG"])
def test_jpeg_extensions_are_accepted(app, name):
    clean = check(Upload(name, factories.image_bytes("JPEG")))
    assert clean.content_type == "image/jpeg"
    assert clean.name == name


def test_trailing_dot_is_trimmed_and_then_checked(app):
    clean = check(Upload("register.pdf.", factories.pdf_bytes()))
    assert clean.name == "register.pdf"


# PDFs -------------------------------------------------------------------------------------------


def test_truncated_pdf_is_refused(app):
    data = factories.pdf_bytes(pages=3)
    for cut in (len(data) // 2, len(data) - 8, 12):
        with pytest.raises(UploadRejected, match="damaged or incomplete"):
            check(Upload("register.pdf", data[:cut]))


def test_pdf_with_garbage_after_header_is_refused(app):
    with pytest.raises(UploadRejected, match="damaged or incomplete"):
        check(Upload("register.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100 + b"\n%%EOF\n"))


def test_encrypted_pdf_is_refused(app):
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(UploadRejected, match="password-protected"):
        check(Upload("register.pdf", buf.getvalue()))


def test_pdf_metadata_and_scripts_are_stripped(app):
    data = factories.pdf_bytes(
        pages=2,
        metadata={"/Author": "CANARY-AUTHOR", "/Creator": "CANARY-CREATOR", "/Title": "CANARY-TITLE"},
        script="app.alert('CANARY-JS')",
    )
    assert data.count(b"CANARY") >= 4
    clean = check(Upload("register.pdf", data))
    assert b"CANARY" not in clean.data
    assert b"/JavaScript" not in clean.data
    reader = PdfReader(io.BytesIO(clean.data))
    assert len(reader.pages) == 2
    assert reader.metadata is None
    assert "/Metadata" not in reader.trailer["/Root"]
    assert clean.content_type == "application/pdf"


def test_pdf_xmp_metadata_is_stripped(app):
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.xmp_metadata = None
    from pypdf.generic import DecodedStreamObject, NameObject

    xmp = DecodedStreamObject()
    xmp.set_data(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>CANARY-XMP</dc:creator></x:xmpmeta>')
    xmp.update({NameObject("/Type"): NameObject("/Metadata"), NameObject("/Subtype"): NameObject("/XML")})
    writer._root_object[NameObject("/Metadata")] = writer._add_object(xmp)
    buf = io.BytesIO()
    writer.write(buf)
    assert b"CANARY-XMP" in buf.getvalue()
    clean = check(Upload("register.pdf", buf.getvalue()))
    assert b"CANARY" not in clean.data


def test_pdf_page_and_link_scripts_are_neutralised(app):
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

    def js(code: str) -> DictionaryObject:
        action = {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject(code)}
        return DictionaryObject(action)

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    link = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"),
        NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(50), FloatObject(50)]),
        NameObject("/A"): js("app.alert('CANARY-LINK')"),
    })
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): js("app.alert('CANARY-PAGE')")})
    buf = io.BytesIO()
    writer.write(buf)
    assert buf.getvalue().count(b"CANARY") == 2
    clean = check(Upload("register.pdf", buf.getvalue()))
    assert b"CANARY" not in clean.data
    assert len(PdfReader(io.BytesIO(clean.data)).pages) == 1


# Images -----------------------------------------------------------------------------------------


def test_png_pixel_flood_is_refused(app):
    with pytest.raises(UploadRejected, match="too many pixels"):
        check(Upload("flood.png", png_header_only(50_000, 50_000)))


def test_png_over_our_pixel_limit_is_refused(app):
    # 10,000 x 10,000 = 100 MP: above our 40 MP limit and Pillow's warning threshold.
    with pytest.raises(UploadRejected, match="more than 40 megapixels"):
        check(Upload("big.png", png_header_only(10_000, 10_000)))


def test_truncated_png_is_refused(app):
    data = factories.image_bytes("PNG", size=(300, 200))
    with pytest.raises(UploadRejected, match="damaged or incomplete"):
        check(Upload("scan.png", data[: len(data) // 2]))


def test_truncated_jpeg_is_refused(app):
    data = factories.image_bytes("JPEG", size=(300, 200))
    with pytest.raises(UploadRejected, match="damaged or incomplete"):
        check(Upload("scan.jpg", data[: len(data) // 3]))


def test_jpeg_exif_and_comment_canaries_are_stripped_and_orientation_applied(app):
    exif = Image.Exif()
    exif[0x013B] = "CANARY-ARTIST"  # Artist
    exif[0x8298] = "CANARY-COPYRIGHT"  # Copyright
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    data = factories.image_bytes("JPEG", size=(40, 30), exif=exif, comment=b"CANARY-COMMENT")
    assert data.count(b"CANARY") == 3
    clean = check(Upload("passport.jpg", data))
    assert b"CANARY" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.format == "JPEG"
        assert image.size == (30, 40)  # turned upright
        assert not image.getexif()


def test_png_text_chunks_and_exif_are_stripped(app):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "CANARY-TEXT")
    info.add_itxt("Comment", "CANARY-ITXT")
    exif = Image.Exif()
    exif[0x013B] = "CANARY-EXIF"
    data = factories.image_bytes("PNG", pnginfo=info, exif=exif)
    assert data.count(b"CANARY") == 3
    clean = check(Upload("scan.png", data))
    assert b"CANARY" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.size == (40, 30)
        assert not image.text


def test_jpeg_with_html_in_comment_is_neutralised(app):
    data = factories.image_bytes("JPEG", comment=b"<script>alert(1)</script>")
    clean = check(Upload("scan.jpg", data))
    assert b"<script>" not in clean.data


def test_sha256_is_of_the_stored_bytes(app):
    import hashlib

    clean = check(Upload("register.pdf", factories.pdf_bytes()))
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()
    assert clean.size == len(clean.data)


def test_sniff():
    assert sniff(factories.pdf_bytes()) == "pdf"
    assert sniff(factories.image_bytes("PNG")) == "png"
    assert sniff(factories.image_bytes("JPEG")) == "jpeg"
    assert sniff(exe_bytes()) == "program"
    assert sniff(b"\xef\xbb\xbf<svg/>") == "markup"
    assert sniff(b"x" * 257 + b"ustar\x0000") == "archive"


def test_labels_and_hints(app):
    assert uploads.types_label(uploads.LEGAL_TYPES) == "PDF, PNG or JPEG"
    assert uploads.types_label(uploads.PDF_ONLY) == "PDF"
    assert uploads.human_size(10 * 1024 * 1024) == "10 MB"
    assert uploads.human_size(1536) == "1.5 kB"
    assert "up to 10 MB" in uploads.upload_hint(uploads.LEGAL_TYPES)
    assert ".jpeg" in uploads.accept_attribute(uploads.LEGAL_TYPES)


# Storage and reads ------------------------------------------------------------------------------


def test_stored_deletes_the_blob_when_the_block_fails(app, storage_dir):
    clean = check(Upload("register.pdf", factories.pdf_bytes()))
    with pytest.raises(RuntimeError), uploads.stored(clean, prefix="companies/1/kyc") as key:
        assert get_storage().exists(key)
        raise RuntimeError("the transaction failed")
    assert not get_storage().exists(key)
    assert [p for p in Path(storage_dir).rglob("*") if p.is_file()] == []


def test_stored_keeps_the_blob_on_success_under_a_random_key(app, storage_dir):
    clean = check(Upload("../../register.pdf", factories.pdf_bytes()))
    with uploads.stored(clean, prefix="companies/1/kyc") as key:
        pass
    assert key.startswith("companies/1/kyc/") and len(key.rsplit("/", 1)[1]) == 32
    path = Path(storage_dir) / key
    assert path.read_bytes() == clean.data
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "register" not in key


def test_open_document_logs_the_download(app):
    company = factories.company()
    owner = factories.company_user(company)
    doc = factories.document(company, uploaded_by=owner)
    got, data = uploads.open_document(doc.id, actor=owner)
    assert got.id == doc.id and data.startswith(b"%PDF-")
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "document.downloaded")).one()
    assert event.entity_id == doc.id and event.actor_id == owner.id


def test_open_document_refuses_other_tenants_and_previews_for_non_staff(app):
    company = factories.company()
    owner = factories.company_user(company)
    doc = factories.document(company, uploaded_by=owner)
    stranger = factories.company_user(factories.company())
    with pytest.raises(NotFound):
        uploads.open_document(doc.id, actor=stranger)
    with pytest.raises(NotFound):
        uploads.open_document(doc.id, actor=owner, inline=True)
    admin = factories.admin()
    _doc, data = uploads.open_document(doc.id, actor=admin, inline=True)
    assert data.startswith(b"%PDF-")
    with pytest.raises(NotFound):
        uploads.open_document(999_999, actor=admin)


def test_open_document_with_missing_blob_is_not_found(app):
    company = factories.company()
    owner = factories.company_user(company)
    doc = factories.document(company, uploaded_by=owner)
    get_storage().delete(doc.storage_key)
    with pytest.raises(NotFound, match="no longer available"):
        uploads.open_document(doc.id, actor=owner)


def test_document_factory_kind_defaults(app):
    company = factories.company()
    factories.company_user(company)
    assert factories.document(company).kind is DocumentKind.REGISTRATION_CERTIFICATE
    assert factories.document(factories.expert()).kind is DocumentKind.CV
