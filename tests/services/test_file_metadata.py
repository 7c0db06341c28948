"""Metadata stripping (app/services/file_metadata.py): every sample file is built here, none committed."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from typing import Any
from xml.etree import ElementTree

import pytest
import trimesh
from pypdf import PdfReader

from app.services import file_metadata, uploads
from app.services.file_metadata import Stripped, strip_metadata
from app.services.uploads import Upload
from tests import factories

NAMES = (b"Jane Doe", b"Acme Molding GmbH", b"jdoe")


def assert_anonymous(data: bytes) -> None:
    for name in NAMES:
        assert name not in data, name


# STEP -------------------------------------------------------------------------------------

STEP = rb"""ISO-10303-21;
HEADER;
/* exported by a test, it's a comment with a quote */
FILE_DESCRIPTION(('housing, rev C'),'2;1');
FILE_NAME('C:\\Users\\jdoe\\Acme Molding GmbH\\housing_v3.step','2027-03-12T10:15:00',
  ('Jane Doe','jdoe@acme-molding.de'),('Acme Molding GmbH','Werkzeugbau'),
  'ST-DEVELOPER v18 (Jane Doe)','SolidWorks 2024 - Acme Molding GmbH','Jane Doe, Acme Molding GmbH');
FILE_SCHEMA(('AUTOMOTIVE_DESIGN { 1 0 10303 214 3 1 1 }'));
ENDSEC;
DATA;
#1=PERSON('jdoe','Doe','Jane',$,$,$);
#2=ORGANIZATION('ACME','Acme Molding GmbH','Werkzeugbau');
#3=PERSON_AND_ORGANIZATION(#1,#2);
#4=PERSON_AND_ORGANIZATION_ROLE('design_owner');
#5=CARTESIAN_POINT('',(0.,0.,0.));
#6=PRODUCT('housing_v3','housing_v3','It''s the housing',(#7));
#7=PRODUCT_CONTEXT('',#8,'mechanical');
#8=APPLICATION_CONTEXT('automotive design');
#9=ORGANIZATIONAL_ADDRESS('Werk 2','12','Industriestr.',$,'Musterstadt',$,'12345','DE',$,
  '+49 621 1234567','jane.doe@acme-molding.de',$,(#2),'office of Jane Doe');
ENDSEC;
END-ISO-10303-21;
"""


def _p21_value(text: str, i: int) -> tuple[Any, int]:
    """A small ISO 10303-21 value parser, independent of the module under test."""
    while text[i].isspace():
        i += 1
    c = text[i]
    if c == "'":
        j = i + 1
        out = []
        while True:
            if text[j] == "'":
                if text[j + 1] == "'":
                    out.append("'")
                    j += 2
                    continue
                return "".join(out), j + 1
            out.append(text[j])
            j += 1
    if c == "(":
        return _p21_list(text, i)
    m = re.compile(r"\$|\*|#\d+|\.[A-Z_]+\.|[-+0-9.E]+|[A-Z_][A-Z0-9_]*").match(text, i)
    assert m, text[i:i + 20]
    if text[m.end():m.end() + 1] == "(":  # a typed parameter
        inner, end = _p21_list(text, m.end())
        return (m.group(), inner), end
    return m.group(), m.end()


def _p21_list(text: str, i: int) -> tuple[list[Any], int]:
    assert text[i] == "("
    i += 1
    items: list[Any] = []
    while True:
        while text[i].isspace():
            i += 1
        if text[i] == ")":
            return items, i + 1
        value, i = _p21_value(text, i)
        items.append(value)
        while text[i].isspace():
            i += 1
        if text[i] == ",":
            i += 1


def _p21(data: bytes) -> tuple[dict[str, list[Any]], dict[str, tuple[str, list[Any]]]]:
    """The HEADER records by name and the DATA instances by id; asserts the exchange structure."""
    text = re.sub(r"/\*.*?\*/", "", data.decode("latin-1"), flags=re.S)
    assert text.startswith("ISO-10303-21;")
    assert text.rstrip().endswith("END-ISO-10303-21;")
    header_text = text[text.index("HEADER;") + 7:text.index("ENDSEC;")]
    header = {}
    for m in re.finditer(r"([A-Z_]+)\s*\(", header_text):
        if m.start() and header_text[:m.start()].rstrip()[-1:] not in ("", ";"):
            continue
        values, end = _p21_list(header_text, m.end() - 1)
        assert header_text[end:].lstrip().startswith(";")
        header[m.group(1)] = values
    data_text = text[text.index("DATA;") + 5:text.rindex("ENDSEC;")]
    instances = {}
    for m in re.finditer(r"(#\d+)\s*=\s*([A-Z_]+)\s*\(", data_text):
        values, end = _p21_list(data_text, m.end() - 1)
        assert data_text[end:].lstrip().startswith(";")
        instances[m.group(1)] = (m.group(2), values)
    return header, instances


def test_step_header_and_people_are_blanked() -> None:
    result = strip_metadata(STEP, "step")
    assert_anonymous(result.data)
    assert b"1234567" not in result.data and b"acme-molding.de" not in result.data
    assert result.removed == (
        "STEP file name path", "STEP author", "STEP organization", "STEP preprocessor version",
        "STEP originating system", "STEP authorization", "STEP person records", "STEP organization records",
        "STEP address records",
    )
    header, instances = _p21(result.data)
    before_header, before = _p21(STEP)
    name = header["FILE_NAME"]
    assert len(name) == 7
    assert name == ["", "2027-03-12T10:15:00", [""], [""], "", "", ""]
    assert header["FILE_DESCRIPTION"] == before_header["FILE_DESCRIPTION"]
    assert header["FILE_SCHEMA"] == before_header["FILE_SCHEMA"]
    # Same instances with the same number of attributes; references and geometry untouched.
    assert {k: (kind, len(v)) for k, (kind, v) in instances.items()} == {
        k: (kind, len(v)) for k, (kind, v) in before.items()
    }
    assert instances["#1"] == ("PERSON", ["", "", "", "$", "$", "$"])
    assert instances["#2"] == ("ORGANIZATION", ["", "", ""])
    assert instances["#9"][1][12] == ["#2"]
    for key in ("#3", "#4", "#5", "#6", "#7", "#8"):
        assert instances[key] == before[key]
    assert instances["#6"][1][2] == "It's the housing"


def test_step_keeps_a_plain_file_name_and_is_idempotent() -> None:
    step = STEP.replace(rb"'C:\\Users\\jdoe\\Acme Molding GmbH\\housing_v3.step'", b"'housing_v3.step'")
    result = strip_metadata(step, "step")
    assert "STEP file name path" not in result.removed
    assert _p21(result.data)[0]["FILE_NAME"][0] == "housing_v3.step"
    again = strip_metadata(result.data, "step")
    assert again == Stripped(result.data, ())


def test_step_without_anything_to_strip_is_returned_as_is() -> None:
    step = (b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION((''),'2;1');\nFILE_NAME('p.stp','2027-01-01T00:00:00',(''),"
            b"(''),'','','');\nFILE_SCHEMA(('CONFIG_CONTROL_DESIGN'));\nENDSEC;\nDATA;\n#1=CARTESIAN_POINT('',"
            b"(0.,0.,0.));\nENDSEC;\nEND-ISO-10303-21;\n")
    assert strip_metadata(step, "step") == Stripped(step, ())


# IGES -------------------------------------------------------------------------------------


def _hollerith(text: str) -> str:
    return f"{len(text)}H{text}"


IGES_GLOBAL = [
    "1H,", "1H;", _hollerith("housing_v3"), _hollerith(r"C:\Users\jdoe\Desktop\housing_v3.igs"),
    _hollerith("SolidWorks 2024 SP1"), _hollerith("SwIGES 1.0"), "32", "308", "15", "308", "15",
    _hollerith("housing_v3"), "1.", "2", _hollerith("MM"), "50", "0.125", _hollerith("20270312.101500"), "1E-08",
    "500.", _hollerith("Jane Doe (jdoe)"),
    _hollerith("Acme Molding GmbH, Werkzeugbau und Spritzguss, Industriestrasse 12, 12345 Musterstadt, Germany"),
    "11", "0", _hollerith("20270312.101500"),
]


def _records(params: list[str]) -> list[str]:
    """Free-format Global data in 72-column fields, strings split across lines where needed."""
    fields: list[str] = []
    current = ""
    for index, param in enumerate(params):
        piece = param + (";" if index == len(params) - 1 else ",")
        if re.match(r"\d+H", piece):  # a string: may continue on the next record
            while len(current) + len(piece) > 72:
                room = 72 - len(current)
                fields.append(current + piece[:room])
                piece = piece[room:]
                current = ""
        elif len(current) + len(piece) > 72:
            fields.append(current)
            current = ""
        current += piece
    fields.append(current)
    return fields


def _iges(global_params: list[str] = IGES_GLOBAL, *, newline: str = "\n") -> bytes:
    def rec(text: str, section: str, n: int) -> str:
        return f"{text:<72}{section}{n:7d}"

    g = _records(global_params)
    assert "".join(g) == ",".join(global_params) + ";"
    lines = [rec("Housing exported for the hub test", "S", 1)]
    lines += [rec(field, "G", k) for k, field in enumerate(g, start=1)]
    lines += [
        rec("     110       1       0       0       0       0       0       000000000", "D", 1),
        rec("     110       0       0       1       0                LINE       0", "D", 2),
        rec(f"{'110,0.,0.,0.,10.,0.,0.;':<64} {1:>7}"[:72], "P", 1),
        rec(f"S{1:7d}G{len(g):7d}D{2:7d}P{1:7d}", "T", 1),
    ]
    return (newline.join(lines) + newline).encode("latin-1")


def _iges_sections(data: bytes) -> dict[str, list[str]]:
    lines = data.decode("latin-1").replace("\r\n", "\n").rstrip("\n").split("\n")
    sections: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        assert len(line) == 80, (number, line)
        sections.setdefault(line[72], []).append(line)
    assert "".join(sections) == "SGDPT"
    for letter, records in sections.items():
        assert [int(r[73:]) for r in records] == list(range(1, len(records) + 1)), letter
    terminate = sections["T"][0]
    counts = {terminate[8 * k]: int(terminate[8 * k + 1:8 * k + 8]) for k in range(4)}
    assert counts == {letter: len(sections[letter]) for letter in "SGDP"}
    return sections


def _iges_global_params(sections: dict[str, list[str]]) -> list[str]:
    """Split the Global section into parameter values (Hollerith strings decoded)."""
    text = "".join(line[:72] for line in sections["G"])
    values: list[str] = []
    i = 0
    while True:
        while text[i] == " ":
            i += 1
        m = re.compile(r"(\d+)H").match(text, i)
        if m:
            end = m.end() + int(m.group(1))
            values.append(text[m.end():end])
        else:
            end = i
            while text[end] not in ",;":
                end += 1
            values.append(text[i:end].strip())
        if text[end] == ";":
            return values
        i = end + 1


def test_iges_author_and_organisation_are_emptied() -> None:
    original = _iges()
    before = _iges_sections(original)
    assert len(before["G"]) == 5
    result = strip_metadata(original, "iges")
    assert_anonymous(result.data)
    assert result.removed == ("IGES author", "IGES organization", "IGES file name path")
    after = _iges_sections(result.data)
    assert len(after["G"]) < len(before["G"])  # the Terminate count followed
    params = _iges_global_params(after)
    expected = _iges_global_params(before)
    expected[3] = expected[20] = expected[21] = ""
    assert params == expected
    assert params[2] == "housing_v3" and params[14] == "MM" and params[17] == "20270312.101500"
    for letter in "SDP":
        assert after[letter] == before[letter]


def test_iges_result_still_passes_the_upload_check(app: Any) -> None:
    for newline in ("\n", "\r\n"):
        result = strip_metadata(_iges(newline=newline), "iges")
        assert newline.encode() in result.data
        clean = uploads.check_job_file(Upload("housing.igs", result.data), max_bytes=2 * 1024 * 1024)
        assert clean.file_type.code == "iges"


def test_iges_with_a_long_string_split_over_lines() -> None:
    params = list(IGES_GLOBAL)
    params[2] = _hollerith("P" * 150)  # a product ID longer than two records
    result = strip_metadata(_iges(params), "iges")
    after = _iges_sections(result.data)
    assert _iges_global_params(after)[2] == "P" * 150
    assert_anonymous(result.data)


def test_iges_without_author_is_returned_as_is() -> None:
    params = list(IGES_GLOBAL)
    params[3] = _hollerith("housing_v3.igs")
    params[20] = ""
    params[21] = _hollerith("   ")
    data = _iges(params)
    assert strip_metadata(data, "iges") == Stripped(data, ())


# STL --------------------------------------------------------------------------------------


def _faces(data: bytes) -> int:
    return len(trimesh.load(io.BytesIO(data), file_type="stl").faces)


def test_ascii_stl_solid_names_are_dropped() -> None:
    text = trimesh.creation.box().export(file_type="stl_ascii")
    text = re.sub(r"^solid.*$", "solid Jane Doe - Acme Molding GmbH", text, count=1, flags=re.M)
    text = re.sub(r"^endsolid.*$", "endsolid Jane Doe - Acme Molding GmbH", text, flags=re.M)
    data = text.encode()
    assert b"Jane Doe" in data and _faces(data) == 12
    result = strip_metadata(data, "stl")
    assert_anonymous(result.data)
    assert result.removed == ("STL solid name",)
    assert result.data.startswith(b"solid\n")
    assert _faces(result.data) == 12
    assert strip_metadata(result.data, "stl") == Stripped(result.data, ())


def test_binary_stl_header_is_zeroed() -> None:
    data = trimesh.creation.box().export(file_type="stl")
    data = b"solid Jane Doe / Acme Molding GmbH".ljust(80, b" ") + data[80:]
    assert _faces(data) == 12
    result = strip_metadata(data, "stl")
    assert_anonymous(result.data)
    assert result.removed == ("STL header",)
    assert result.data[:80] == b"\x00" * 80 and not result.data.startswith(b"solid")
    assert result.data[80:] == data[80:]
    assert _faces(result.data) == 12
    assert strip_metadata(result.data, "stl") == Stripped(result.data, ())


def test_stl_results_pass_the_upload_check(app: Any) -> None:
    binary = b"Jane Doe".ljust(80, b" ") + trimesh.creation.box().export(file_type="stl")[80:]
    ascii_stl = trimesh.creation.box().export(file_type="stl_ascii").replace("solid", "solid Jane", 1).encode()
    for data in (binary, ascii_stl):
        result = strip_metadata(data, "stl")
        assert result.removed
        assert uploads.check_job_file(Upload("p.stl", result.data), max_bytes=1024 * 1024).file_type.code == "stl"


# DXF --------------------------------------------------------------------------------------

DXF_PAIRS = [
    ("0", "SECTION"), ("2", "HEADER"),
    ("9", "$ACADVER"), ("1", "AC1027"),
    ("9", "$LASTSAVEDBY"), ("1", "jdoe"),
    ("9", "$PROJECTNAME"), ("1", "Acme Molding GmbH housing"),
    ("9", "$HYPERLINKBASE"), ("1", "https://acme-molding.de/jane"),
    ("9", "$MENU"), ("1", r"C:\Users\jdoe\AppData\acad"),
    ("9", "$INSUNITS"), ("70", "4"),
    ("0", "ENDSEC"),
    ("0", "SECTION"), ("2", "ENTITIES"),
    ("0", "LINE"), ("8", "0"), ("10", "0.0"), ("20", "0.0"), ("30", "0.0"), ("11", "10.0"), ("21", "5.0"),
    ("31", "0.0"),
    ("0", "TEXT"), ("8", "0"), ("10", "1.0"), ("20", "1.0"), ("40", "2.5"), ("1", "HOUSING REV C"),
    ("0", "ENDSEC"),
    ("0", "SECTION"), ("2", "OBJECTS"),
    ("0", "XRECORD"), ("5", "1A"), ("100", "AcDbXrecord"), ("280", "1"), ("1", "DWGPROPS COOKIE"),
    ("2", "Housing"), ("3", "Mould design"), ("4", "Jane Doe"), ("6", "reviewed by Jane Doe"), ("7", "housing"),
    ("8", "jdoe"), ("9", "C"), ("300", "=Acme Molding GmbH"), ("40", "0.0"),
    ("0", "ENDSEC"),
    ("0", "EOF"),
]


def _dxf(newline: str = "\n") -> bytes:
    return "".join(f"{code:>3}{newline}{value}{newline}" for code, value in DXF_PAIRS).encode("latin-1")


def _dxf_pairs(data: bytes) -> list[tuple[int, str]]:
    lines = data.decode("latin-1").replace("\r\n", "\n").split("\n")
    assert lines[-1] == "" and len(lines) % 2 == 1
    return [(int(lines[k]), lines[k + 1]) for k in range(0, len(lines) - 1, 2)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_dxf_header_variables_and_drawing_properties_are_blanked(newline: str) -> None:
    original = _dxf(newline)
    result = strip_metadata(original, "dxf")
    assert_anonymous(result.data)
    assert b"acme-molding.de" not in result.data
    assert result.removed == ("DXF last saved by", "DXF project name", "DXF hyperlink base", "DXF menu path",
                              "DXF drawing properties")
    before, after = _dxf_pairs(original), _dxf_pairs(result.data)
    assert [code for code, _ in after] == [code for code, _ in before]
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert all(value == "" for _, (_, value) in changed)
    assert [value for (_, value), _ in changed] == [
        "jdoe", "Acme Molding GmbH housing", "https://acme-molding.de/jane", r"C:\Users\jdoe\AppData\acad",
        "Housing", "Mould design", "Jane Doe", "reviewed by Jane Doe", "housing", "jdoe", "C", "=Acme Molding GmbH",
    ]
    for pair in [(70, "4"), (1, "AC1027"), (1, "HOUSING REV C"), (21, "5.0"), (1, "DWGPROPS COOKIE"), (0, "EOF")]:
        assert pair in after
    assert result.data.count(newline.encode()) == original.count(newline.encode())


def test_dxf_result_passes_the_upload_check(app: Any) -> None:
    result = strip_metadata(_dxf("\r\n"), "dxf")
    assert uploads.check_job_file(Upload("housing.dxf", result.data), max_bytes=1024 * 1024).file_type.code == "dxf"


def test_dxf_plain_menu_name_is_kept() -> None:
    data = (b"  0\nSECTION\n  2\nHEADER\n  9\n$MENU\n  1\nacad\n  9\n$LASTSAVEDBY\n  1\n\n  0\nENDSEC\n"
            b"  0\nEOF\n")
    assert strip_metadata(data, "dxf") == Stripped(data, ())


# XLSX -------------------------------------------------------------------------------------

CORE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        b"<dc:title>Cooling study</dc:title><dc:creator>Jane Doe</dc:creator>"
        b"<cp:lastModifiedBy>Jane Doe (Acme Molding GmbH)</cp:lastModifiedBy>"
        b'<dcterms:created xsi:type="dcterms:W3CDTF">2027-03-12T10:15:00Z</dcterms:created>'
        b"</cp:coreProperties>")
APP = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
       b"<Application>Microsoft Excel</Application><Manager>John Roe of Acme Molding GmbH</Manager>"
       b"<Company>Acme Molding GmbH</Company><AppVersion>16.0300</AppVersion></Properties>")
WORKBOOK = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x15ac">'
            b'<mc:AlternateContent><mc:Choice Requires="x15">'
            b'<x15ac:absPath xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac" '
            b'url="C:\\Users\\jdoe\\Acme Molding GmbH\\"/></mc:Choice></mc:AlternateContent>'
            b'<sheets><sheet name="Cooling" sheetId="1" r:id="rId1" '
            b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"/></sheets></workbook>')
SHEET = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
         b'<row r="1"><c r="A1"><v>285</v></c><c r="B1"><v>80</v></c></row></sheetData></worksheet>')
COMMENTS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b"<authors><author>Jane Doe</author></authors><commentList>"
            b'<comment ref="A1" authorId="0"><text><r><rPr><b/></rPr><t>Jane Doe:</t></r>'
            b'<r><t xml:space="preserve">\ncheck the melt temperature</t></r></text></comment>'
            b"</commentList></comments>")
CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 b'<Default Extension="xml" ContentType="application/xml"/></Types>')


def _xlsx(extra: dict[str, bytes] | None = None) -> bytes:
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": b'<?xml version="1.0"?><Relationships '
                       b'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>',
        "docProps/core.xml": CORE,
        "docProps/app.xml": APP,
        "xl/workbook.xml": WORKBOOK,
        "xl/worksheets/sheet1.xml": SHEET,
        "xl/comments1.xml": COMMENTS,
    }
    parts.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in parts.items():
            zf.writestr(name, payload)
    return buf.getvalue()


def _text_of(part: bytes, tag: str) -> list[str | None]:
    return [el.text for el in ElementTree.fromstring(part).iter() if el.tag.endswith("}" + tag)]


def test_xlsx_document_properties_are_blanked() -> None:
    original = _xlsx()
    result = strip_metadata(original, "xlsx")
    archive = zipfile.ZipFile(io.BytesIO(result.data))
    assert archive.testzip() is None
    assert archive.namelist() == zipfile.ZipFile(io.BytesIO(original)).namelist()
    contents = {name: archive.read(name) for name in archive.namelist()}
    for payload in contents.values():
        assert_anonymous(payload)
        ElementTree.fromstring(payload)  # every part is still well-formed XML
    assert result.removed == ("XLSX creator", "XLSX last modified by", "XLSX manager", "XLSX company",
                              "XLSX file path", "XLSX comment authors")
    core = contents["docProps/core.xml"]
    assert _text_of(core, "creator") == [None] and _text_of(core, "lastModifiedBy") == [None]
    assert _text_of(core, "title") == ["Cooling study"]
    assert _text_of(core, "created") == ["2027-03-12T10:15:00Z"]
    app_xml = contents["docProps/app.xml"]
    assert _text_of(app_xml, "Company") == [None] and _text_of(app_xml, "Application") == ["Microsoft Excel"]
    assert b'mc:Ignorable="x15ac"' in contents["xl/workbook.xml"]  # prefixes untouched: Excel needs them
    assert b'url=""' in contents["xl/workbook.xml"]
    assert contents["xl/worksheets/sheet1.xml"] == SHEET
    assert b"check the melt temperature" in contents["xl/comments1.xml"]
    assert strip_metadata(result.data, "xlsx") == Stripped(result.data, ())


def test_xlsx_custom_properties_and_people_are_blanked() -> None:
    custom = (b'<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
              b'custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
              b'<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Owner">'
              b"<vt:lpwstr>Jane Doe</vt:lpwstr></property></Properties>")
    persons = (b'<?xml version="1.0"?><personList xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/'
               b'threadedcomments"><person displayName="Jane Doe" id="{1}" userId="jdoe@acme-molding.de" '
               b'providerId="AD"/></personList>')
    result = strip_metadata(_xlsx({"docProps/custom.xml": custom, "xl/persons/person.xml": persons}), "xlsx")
    archive = zipfile.ZipFile(io.BytesIO(result.data))
    assert "XLSX custom properties" in result.removed
    for name in archive.namelist():
        assert_anonymous(archive.read(name))
        ElementTree.fromstring(archive.read(name))
    assert b'name="Owner"' in archive.read("docProps/custom.xml")


def test_xlsx_result_passes_the_upload_check(app: Any) -> None:
    result = strip_metadata(_xlsx(), "xlsx")
    clean = uploads.check_job_file(Upload("cooling.xlsx", result.data), max_bytes=2 * 1024 * 1024)
    assert clean.file_type.code == "xlsx"


def test_xlsx_after_the_upload_check_still_loses_path_and_comment_authors(app: Any) -> None:
    # check_job_file empties core.xml and app.xml itself; the folder path and the comment authors remain.
    clean = uploads.check_job_file(Upload("cooling.xlsx", _xlsx()), max_bytes=2 * 1024 * 1024)
    result = strip_metadata(clean.data, "xlsx")
    assert result.removed == ("XLSX file path", "XLSX comment authors")
    archive = zipfile.ZipFile(io.BytesIO(result.data))
    for name in archive.namelist():
        assert_anonymous(archive.read(name))


# PDF, images, other types -----------------------------------------------------------------


def test_pdf_and_images_are_left_to_the_upload_check(app: Any) -> None:
    pdf = uploads.check_job_file(Upload("d.pdf", factories.pdf_bytes(metadata={"/Author": "Jane Doe"})),
                                 max_bytes=2 * 1024 * 1024).data
    assert PdfReader(io.BytesIO(pdf)).metadata is None or not PdfReader(io.BytesIO(pdf)).metadata.get("/Author")
    assert strip_metadata(pdf, "pdf") == Stripped(pdf, ())
    for code in ("png", "jpeg"):
        assert strip_metadata(b"\x89PNG any bytes", code) == Stripped(b"\x89PNG any bytes", ())


def test_every_job_type_code_of_the_upload_module_is_handled() -> None:
    assert set(file_metadata._HANDLERS) == set(uploads.JOB_TYPES)


@pytest.mark.parametrize("code", ["dwg", "csv", "docx", "zip", "", "unknown"])
def test_other_types_are_unchanged(code: str) -> None:
    data = b"AC1032 Jane Doe Acme Molding GmbH" if code == "dwg" else b"a;b\nJane Doe;1\n"
    assert strip_metadata(data, code) == Stripped(data, ())


def test_type_code_is_case_insensitive() -> None:
    assert strip_metadata(STEP, "STEP").removed == strip_metadata(STEP, "step").removed


MALFORMED = {
    "step": [b"", b"ISO-10303-21;\nHEADER;\nFILE_NAME('x',('Jane Doe'",
             b"ISO-10303-21;\nHEADER;\nFILE_NAME('a','b');\n", b"ISO-10303-21;\x00HEADER;",
             b"not a step file Jane Doe", STEP[: len(STEP) // 2]],
    "iges": [b"", b"Jane Doe\n", _iges()[:-20], _iges().replace(b"G      1", b"G       1", 1),
             _iges().replace(b"1H,,1H;,", b"XH,,1H;,", 1), _iges([*IGES_GLOBAL[:21], "999HAcme", "11", "0"]),
             b"\x00" * 200],
    "stl": [b"", b"solid Jane Doe\x00", b"\x00" * 100, b"Jane Doe" * 20 + b"\xff\xff\xff\xff" + b"\x00" * 50,
            b"no solid here Jane Doe"],
    "dxf": [b"", b"  0\nSECTION\n  x\nHEADER\n", b"AutoCAD Binary DXF\r\n\x1a\x00Jane Doe", b"\x00Jane Doe"],
    "xlsx": [b"", b"PK\x03\x04garbage Jane Doe", _xlsx()[:200], _xlsx()[:-30], b"Jane Doe"],
}


@pytest.mark.parametrize("code, data", [(c, d) for c, items in MALFORMED.items() for d in items])
def test_malformed_input_of_a_known_type_is_returned_unchanged(code: str, data: bytes) -> None:
    result = strip_metadata(data, code)
    assert result == Stripped(data, ())


def test_a_zip_bomb_is_not_expanded() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("docProps/core.xml", CORE)
        for k in range(3):
            zf.writestr(f"xl/big{k}.xml", b"\0" * (80 * 1024 * 1024))
    data = buf.getvalue()
    assert strip_metadata(data, "xlsx") == Stripped(data, ())


def test_binary_stl_detection_matches_the_upload_module() -> None:
    for triangles in (1, 2, 12):
        data = b"x" * 80 + struct.pack("<I", triangles) + b"\0" * (50 * triangles)
        assert file_metadata._is_binary_stl(data) == uploads._is_binary_stl(data)
    assert not file_metadata._is_binary_stl(b"x" * 80 + struct.pack("<I", 5) + b"\0" * 10)
