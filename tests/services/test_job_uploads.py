"""Job attachment checks: valid samples of every type accepted, a corpus of hostile files refused."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from typing import Any

import pytest

from app.services import uploads
from app.services.uploads import Upload, UploadRejected
from tests import factories

LIMIT = 2 * 1024 * 1024


def _iges() -> bytes:
    def rec(text: str, section: str, n: int) -> str:
        return f"{text:<72}{section}{n:>7}"

    lines = [rec("Part exported by a test", "S", 1), rec("1H,,1H;,4Hpart,8Hpart.igs;", "G", 1),
             rec("     110       1       0       0       0       0       0       0", "D", 1),
             rec("     110       0       0       1       0", "D", 2),
             rec("110,0.,0.,0.,1.,0.,0.;", "P", 1), rec("S      1G      1D      2P      1", "T", 1)]
    return ("\n".join(lines) + "\n").encode()


def _stl_binary(triangles: int = 2) -> bytes:
    header = b"binary stl exported by test".ljust(80, b" ")
    body = b"".join(struct.pack("<12fH", *([0.0] * 12), 0) for _ in range(triangles))
    return header + struct.pack("<I", triangles) + body


STL_ASCII = (b"solid part\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 0\n   vertex 1 0 0\n   vertex 0 1 0\n"
             b"  endloop\n endfacet\nendsolid part\n")
DXF = b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n  0\r\nENDSEC\r\n  0\r\nEOF\r\n"
DWG = b"AC1032" + bytes(range(256)) * 2


def _zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _xlsx(**extra: bytes) -> bytes:
    entries = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               b'content-types"/>',
        "_rels/.rels": b"<Relationships/>",
        "xl/workbook.xml": b"<workbook/>",
        "xl/worksheets/sheet1.xml": b"<worksheet><sheetData/></worksheet>",
    }
    entries.update(extra)
    return _zip(entries)


def _lying_zip() -> bytes:
    """A ZIP whose central directory declares a tiny size for an entry that inflates to 30 MB."""
    data = _xlsx(**{"xl/sharedStrings.xml": b"A" * (30 * 1024 * 1024)})
    real = (30 * 1024 * 1024).to_bytes(4, "little")
    return data.replace(real, (10).to_bytes(4, "little"))


VALID = [
    ("part.step", lambda: factories.step_bytes(), "step"),
    ("part.STP", lambda: factories.step_bytes(), "step"),
    ("part.igs", _iges, "iges"),
    ("part.iges", _iges, "iges"),
    ("part.stl", _stl_binary, "stl"),
    ("ascii.stl", lambda: STL_ASCII, "stl"),
    ("plan.dxf", lambda: DXF, "dxf"),
    ("plan.dwg", lambda: DWG, "dwg"),
    ("drawing.pdf", lambda: factories.pdf_bytes(metadata={"/Author": "Jane"}), "pdf"),
    ("photo.png", lambda: factories.image_bytes("PNG"), "png"),
    ("photo.jpg", lambda: factories.image_bytes("JPEG"), "jpeg"),
    ("data.xlsx", _xlsx, "xlsx"),
    ("data.csv", lambda: "temp;pressure\n230;800\nÄnderung;1\n".encode(), "csv"),
]


@pytest.mark.parametrize(("name", "make", "code"), VALID, ids=[v[0] for v in VALID])
def test_valid_samples_are_accepted(app: Any, name: str, make: Any, code: str) -> None:
    clean = uploads.check_job_file(Upload(name, make()), max_bytes=LIMIT)
    assert clean.file_type.code == code
    assert clean.size > 0 and len(clean.sha256) == 64


def test_pdf_metadata_is_stripped(app: Any) -> None:
    clean = uploads.check_job_file(Upload("d.pdf", factories.pdf_bytes(metadata={"/Author": "Jane Roe"})),
                                   max_bytes=LIMIT)
    assert b"Jane Roe" not in clean.data


HOSTILE = [
    ("exe renamed .step", "part.step", lambda: b"MZ\x90\x00\x03" + b"\x00" * 200, "program"),
    ("elf renamed .stl", "part.stl", lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "program"),
    ("shell script .csv", "data.csv", lambda: b"#!/bin/sh\nrm -rf /\n", "program"),
    ("html named .stl", "part.stl", lambda: b"<html><body><script>alert(1)</script></body></html>", "web page"),
    ("svg with script .dxf", "plan.dxf", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)'
                                                 b"</script></svg>", "SVG"),
    ("svg named .svg", "logo.svg", lambda: b"<svg><script>alert(1)</script></svg>", "not accepted"),
    ("zip named .step", "part.step", lambda: _zip({"a.txt": b"x"}), "archive"),
    ("gzip named .csv", "data.csv", lambda: b"\x1f\x8b\x08\x00" + b"\x00" * 50, "archive"),
    ("plain zip upload", "files.zip", lambda: _zip({"a.step": factories.step_bytes()}), "not accepted"),
    ("exe extension", "setup.exe", lambda: b"MZ" + b"\x00" * 100, "not accepted"),
    ("no extension", "README", lambda: b"hello", "no extension"),
    ("text named .step", "part.step", lambda: b"just some notes about the part\n", "ISO-10303-21"),
    ("truncated step", "part.step", lambda: factories.step_bytes()[:-20], "incomplete"),
    ("pdf named .step", "part.step", lambda: factories.pdf_bytes(), "ISO-10303-21"),
    ("truncated binary stl", "part.stl", lambda: _stl_binary(3)[:-7], "declares 3 triangles"),
    ("ascii stl without facets", "part.stl", lambda: b"solid x\nendsolid x\n", "incomplete"),
    ("iges wrong columns", "part.igs", lambda: b"this is not an iges record S      1\n", "80-column"),
    ("iges bad section letter", "part.igs", lambda: _iges().replace(b"P      1", b"X      1"), "section letter"),
    ("dxf without section", "plan.dxf", lambda: b"hello world\n", "SECTION"),
    ("dwg bad magic", "plan.dwg", lambda: b"XX1032" + b"\x00" * 200, "AC10"),
    ("png named .jpg", "photo.jpg", lambda: factories.image_bytes("PNG"), "JPEG"),
    ("corrupt pdf", "drawing.pdf", lambda: b"%PDF-1.7\n garbage", "could not be read"),
    ("csv with NUL", "data.csv", lambda: b"a,b\n1,\x002\n", "binary data"),
    ("csv not utf-8", "data.csv", lambda: "temp\n\xe4\n".encode("latin-1"), "UTF-8"),
    ("xlsx zip bomb (declared)", "data.xlsx",
     lambda: _xlsx(**{"xl/sharedStrings.xml": b"\x00" * (25 * 1024 * 1024)}), "zip bomb"),
    ("xlsx lying sizes", "data.xlsx", _lying_zip, "declared sizes are wrong"),
    ("xlsx nested zip", "data.xlsx", lambda: _xlsx(**{"xl/embeddings/inner.bin": _zip({"a": b"b"})}),
     "another archive"),
    ("xlsx path traversal", "data.xlsx", lambda: _xlsx(**{"../../etc/cron.d/evil": b"x"}), "unsafe path"),
    ("xlsx absolute path", "data.xlsx", lambda: _xlsx(**{"/etc/passwd": b"x"}), "unsafe path"),
    ("xlsx with macros", "data.xlsx", lambda: _xlsx(**{"xl/vbaProject.bin": b"macro"}), "macros"),
    ("plain zip named .xlsx", "data.xlsx", lambda: _zip({"a.txt": b"x"}), "workbook parts"),
    ("xlsx too many parts", "data.xlsx", lambda: _xlsx(**{f"xl/p{i}.xml": b"" for i in range(2001)}),
     "too many parts"),
    ("not a zip .xlsx", "data.xlsx", lambda: b"name,value\n", "ZIP"),
    ("path traversal name", "../../etc/part.step", lambda: factories.step_bytes(), "folder parts"),
    ("windows path name", "..\\..\\boot.step", lambda: factories.step_bytes(), "folder parts"),
    ("empty file", "part.step", lambda: b"", "empty"),
    ("oversized", "part.step", lambda: factories.step_bytes() + b" " * LIMIT, "the limit is 2 MB"),
]


@pytest.mark.parametrize(("label", "name", "make", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_with_a_reason(app: Any, label: str, name: str, make: Any, message: str) -> None:
    with pytest.raises(UploadRejected) as info:
        uploads.check_job_file(Upload(name, make()), max_bytes=LIMIT)
    assert message in str(info.value), f"{label}: {info.value}"


def test_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 20
    assert len({code for *_rest, code in VALID}) == 10


def test_binary_stl_with_markup_like_bytes_is_accepted(app: Any) -> None:
    data = _stl_binary(60)  # the triangle count byte is "<"
    assert uploads.check_job_file(Upload("p.stl", data), max_bytes=LIMIT).file_type.code == "stl"


def test_legal_documents_keep_their_behaviour(app: Any) -> None:
    with pytest.raises(UploadRejected):
        uploads.check(Upload("part.step", factories.step_bytes()))
    assert uploads.check(Upload("c.pdf", factories.pdf_bytes())).file_type.code == "pdf"


def test_workbook_document_properties_are_emptied(app):
    """Author, last editor and company in docProps never reach the expert."""
    canary = b"CANARY-7f3a Anna Berger Formteile GmbH"
    data = _xlsx(**{
        "docProps/core.xml": b"<cp:coreProperties><dc:creator>" + canary + b"</dc:creator></cp:coreProperties>",
        "docProps/app.xml": b"<Properties><Company>" + canary + b"</Company></Properties>",
        "docProps/custom.xml": b"<Properties>" + canary + b"</Properties>",
    })
    clean = uploads.check_job_file(uploads.Upload("process sheet.xlsx", data), max_bytes=10 * 1024 * 1024)
    with zipfile.ZipFile(io.BytesIO(clean.data)) as archive:
        names = set(archive.namelist())
        assert "xl/worksheets/sheet1.xml" in names and "docProps/custom.xml" not in names
        everything = b"".join(archive.read(n) for n in names)
    assert canary not in everything
    assert clean.sha256 == hashlib.sha256(clean.data).hexdigest()
