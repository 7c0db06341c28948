"""Identifying metadata removed from files passed between the expert and the company.

The expert is anonymous (RELIABILITY.md §3.10): a CAD header or a spreadsheet's document
properties could carry the author's real name, login or employer, or a folder path with
their user name. :func:`strip_metadata` blanks those fields and keeps the file valid for
the program that reads it (same layout, same geometry). Pure Python: no Flask, no DB.

What is done per type code of ``app/services/uploads.py`` (``check_job_file``):

- ``step``: HEADER ``FILE_NAME`` author, organisation, preprocessor, originating system
  and authorisation blanked, the name too when it is a path; in DATA the strings of
  ``PERSON``, ``ORGANIZATION`` and address entities blanked (references unchanged).
- ``iges``: Global section author (parameter 21) and organisation (22) emptied, the file
  name (4) too when it is a path; the section re-wrapped in 80-column records and the
  Terminate record's Global line count updated.
- ``stl``: ASCII ``solid``/``endsolid`` names dropped; the binary 80-byte header zeroed.
- ``dxf`` (ASCII): header variables ``$LASTSAVEDBY``, ``$AUTHOR``, ``$PROJECTNAME``,
  ``$HYPERLINKBASE`` (and ``$MENU``/``$STYLESHEET`` when they are paths), and the
  ``DWGPROPS`` drawing properties record, blanked.
- ``xlsx``: creator, last editor, company, manager, custom property values, comment
  authors and the saved folder path (``x15ac:absPath``) blanked; the ZIP rebuilt.
- ``pdf``, ``png``, ``jpeg``: nothing here; ``check_job_file`` already rewrote them
  without metadata (see :func:`_already_clean`).
- ``dwg``, ``csv`` and anything else: unchanged (see :func:`_unchanged`).

Malformed input of a known type is returned unchanged with ``removed=()``: the upload
checks refuse damaged files on their own, and this function never raises.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = ["Stripped", "strip_metadata"]


@dataclass(frozen=True)
class Stripped:
    """The file without identifying metadata, and a human-readable list of what was removed."""

    data: bytes
    removed: tuple[str, ...]


def strip_metadata(data: bytes, file_type: str) -> Stripped:
    """Blank the identifying metadata of ``data``, a file of type ``file_type`` ("step", "iges", ...).

    Returns the bytes unchanged, with ``removed=()``, for a type that has nothing to strip
    here, or when the file cannot be read as that type. Never raises.
    """
    handler = _HANDLERS.get(file_type.lower(), _unchanged)
    try:
        result = handler(data)
    except Exception as exc:  # hostile input may break any parser; the upload checks reject it separately
        logger.info("Metadata not stripped from a %s file: %s", file_type, exc)
        return Stripped(data, ())
    return result if result is not None else Stripped(data, ())


def _unchanged(data: bytes) -> Stripped:
    """No metadata we can strip safely.

    DWG is a closed binary format (compressed, checksummed sections) for which no
    library is available here: its summary info can name the author, so the job page
    should ask people to send DXF or STEP. CSV is plain data without a metadata block.
    """
    return Stripped(data, ())


def _already_clean(data: bytes) -> Stripped:
    """PDF, PNG, JPEG: ``uploads.check_job_file`` already rewrote them without metadata.

    ``_clean_pdf`` copies the pages into a fresh document (no ``/Info``, XMP, scripts);
    ``_clean_image`` re-encodes the pixels (no EXIF, comments or text chunks). Doing it a
    second time here would only re-encode JPEGs again and lose quality.
    """
    return Stripped(data, ())


def _is_text(data: bytes) -> bool:
    return b"\x00" not in data


# STEP (ISO 10303-21) ----------------------------------------------------------------------

_STEP_START = re.compile(r"\s*ISO-10303-21\s*;")
_STEP_FILE_NAME = re.compile(r"\bFILE_NAME\s*\(", re.IGNORECASE)
_STEP_ENDSEC = re.compile(r"\bENDSEC\s*;", re.IGNORECASE)
_STEP_STRING = re.compile(r"'(?:[^']|'')*'")
_STEP_PERSONAL = re.compile(
    r"#\d+\s*=\s*(?P<kind>PERSON|ORGANIZATION|PERSONAL_ADDRESS|ORGANIZATIONAL_ADDRESS|ADDRESS)\s*\(", re.IGNORECASE
)
_STEP_ENTITY_LABELS = {
    "PERSON": "STEP person records",
    "ORGANIZATION": "STEP organization records",
    "PERSONAL_ADDRESS": "STEP address records",
    "ORGANIZATIONAL_ADDRESS": "STEP address records",
    "ADDRESS": "STEP address records",
}
# FILE_NAME(name, time_stamp, author, organization, preprocessor_version, originating_system, authorization)
_STEP_FILE_NAME_FIELDS = {
    2: ("('')", "STEP author"),
    3: ("('')", "STEP organization"),
    4: ("''", "STEP preprocessor version"),
    5: ("''", "STEP originating system"),
    6: ("''", "STEP authorization"),
}


def _step_params(text: str, open_paren: int) -> tuple[list[tuple[int, int]], int] | None:
    """The spans of the top-level parameters of the list opening at ``open_paren``, and its closing index."""
    params: list[tuple[int, int]] = []
    depth = 0
    start = open_paren + 1
    i = open_paren
    n = len(text)
    while i < n:
        c = text[i]
        if c == "'":
            string = _STEP_STRING.match(text, i)
            if string is None:
                return None
            i = string.end()
            continue
        if c == "/" and text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                return None
            i = close + 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                params.append((start, i))
                return params, i
        elif c == "," and depth == 1:
            params.append((start, i))
            start = i + 1
        i += 1
    return None


def _has_text(value: str) -> bool:
    return any(s[1:-1].replace("''", "'").strip() for s in _STEP_STRING.findall(value))


def _strip_step(data: bytes) -> Stripped | None:
    if not _is_text(data):
        return None
    bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
    text = data[len(bom):].decode("latin-1")  # byte-transparent: every other byte is written back as it was
    if not _STEP_START.match(text) or "END-ISO-10303-21;" not in text[-4096:]:
        return None  # not STEP, or cut short
    edits: list[tuple[int, int, str]] = []
    removed: list[str] = []
    header = re.search(r"\bHEADER\s*;", text, re.IGNORECASE)
    if header is None:
        return None
    endsec = _STEP_ENDSEC.search(text, header.end())
    file_name = _STEP_FILE_NAME.search(text, header.end(), endsec.start() if endsec else len(text))
    if file_name is not None:
        parsed = _step_params(text, file_name.end() - 1)
        if parsed is None or len(parsed[0]) != 7:
            return None
        params = parsed[0]
        name = text[params[0][0]:params[0][1]]
        if "/" in name or "\\" in name:
            edits.append((params[0][0], params[0][1], "''"))
            removed.append("STEP file name path")
        for index, (blank, label) in _STEP_FILE_NAME_FIELDS.items():
            start, end = params[index]
            if _has_text(text[start:end]):
                edits.append((start, end, blank))
                removed.append(label)
    data_start = endsec.end() if endsec else header.end()
    for entity in _STEP_PERSONAL.finditer(text, data_start):
        parsed = _step_params(text, entity.end() - 1)
        if parsed is None:
            continue
        start, end = entity.end(), parsed[1]
        body = text[start:end]
        if _has_text(body):
            edits.append((start, end, _STEP_STRING.sub("''", body)))
            label = _STEP_ENTITY_LABELS[entity.group("kind").upper()]
            if label not in removed:
                removed.append(label)
    if not edits:
        return Stripped(data, ())
    out: list[str] = []
    last = 0
    for start, end, replacement in sorted(edits):
        out.append(text[last:start])
        out.append(replacement)
        last = end
    out.append(text[last:])
    return Stripped(bom + "".join(out).encode("latin-1"), tuple(removed))


# IGES -------------------------------------------------------------------------------------

_IGES_SECTIONS = "SGDPT"
_HOLLERITH = re.compile(r"[ ]*(\d+)H")
# Global parameters (1-based): 4 file name, 21 author, 22 author's organisation.
_IGES_FILE_NAME, _IGES_AUTHOR, _IGES_ORGANIZATION = 3, 20, 21


def _iges_global(g: str) -> tuple[str, str, list[str]] | None:
    """Parse the Global section: (parameter delimiter, record delimiter, raw parameters)."""
    i = 0
    raw: list[str] = []
    if g.startswith("1H"):
        pd = g[2]
        raw.append(g[:3])
        i = 3
    else:
        pd = ","
        raw.append("")
    if i >= len(g) or g[i] != pd:
        return None
    i += 1
    if g.startswith("1H", i):
        rd = g[i + 2]
        raw.append(g[i:i + 3])
        i += 3
    else:
        rd = ";"
        raw.append("")
    if i >= len(g) or g[i] not in (pd, rd):
        return None
    if g[i] == rd:
        return pd, rd, raw
    i += 1
    while i < len(g):
        hollerith = _HOLLERITH.match(g, i)
        if hollerith is not None:
            end = hollerith.end() + int(hollerith.group(1))
            if end > len(g):
                return None
        else:
            end = i
            while end < len(g) and g[end] not in (pd, rd):
                end += 1
        raw.append(g[i:end])
        if end >= len(g):
            return None
        i = end + 1
        if g[end] == rd:
            return pd, rd, raw
        if g[end] != pd:
            return None
    return None


def _hollerith_text(param: str) -> str:
    m = _HOLLERITH.match(param)
    return param[m.end():] if m else param


def _wrap_global(raw: list[str], pd: str, rd: str) -> list[str] | None:
    """Lay the parameters out in 72-column fields; only strings may continue on the next line."""
    lines: list[str] = []
    current = ""
    for index, param in enumerate(raw):
        param = param.lstrip(" ")  # padding before a parameter is not part of it
        token = param + (rd if index == len(raw) - 1 else pd)
        prefix = _HOLLERITH.match(param)
        if prefix is not None:
            if len(current) + min(prefix.end() + 1, len(token)) > 72:  # keep "12H" with its first character
                lines.append(current)
                current = ""
            while len(current) + len(token) > 72:
                room = 72 - len(current)
                lines.append(current + token[:room])
                token = token[room:]
                current = ""
            current += token
        else:
            if len(token) > 72:
                return None
            if len(current) + len(token) > 72:
                lines.append(current)
                current = ""
            current += token
    if current:
        lines.append(current)
    return lines


def _iges_number(original: str, value: int) -> str:
    """A 7-column sequence number in the style of ``original`` (zero- or blank-padded)."""
    return f"{value:07d}" if original.startswith("0") else f"{value:7d}"


def _strip_iges(data: bytes) -> Stripped | None:
    if not _is_text(data):
        return None
    text = data.decode("latin-1")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = [line.rstrip("\r") for line in text.split("\n")]
    trailing = 0
    while lines and not lines[-1].strip():
        lines.pop()
        trailing += 1
    if not lines or any(len(line) != 80 or line[72] not in _IGES_SECTIONS for line in lines):
        return None
    order = [_IGES_SECTIONS.index(line[72]) for line in lines]
    if order != sorted(order) or lines[-1][72] != "T":
        return None
    g_index = [i for i, line in enumerate(lines) if line[72] == "G"]
    if not g_index:
        return Stripped(data, ())
    parsed = _iges_global("".join(lines[i][:72] for i in g_index))
    if parsed is None:
        return None
    pd, rd, raw = parsed
    removed: list[str] = []
    for index, label in ((_IGES_AUTHOR, "IGES author"), (_IGES_ORGANIZATION, "IGES organization")):
        if index < len(raw) and _hollerith_text(raw[index]).strip():
            raw[index] = ""
            removed.append(label)
    if _IGES_FILE_NAME < len(raw) and any(c in _hollerith_text(raw[_IGES_FILE_NAME]) for c in "/\\"):
        raw[_IGES_FILE_NAME] = ""
        removed.append("IGES file name path")
    if not removed:
        return Stripped(data, ())
    fields = _wrap_global(raw, pd, rd)
    terminate = lines[-1]
    if fields is None or terminate[8] != "G" or not terminate[9:16].strip().isdigit():
        return None
    style = lines[g_index[0]][73:80]
    g_lines = [field.ljust(72) + "G" + _iges_number(style, k) for k, field in enumerate(fields, start=1)]
    count = _iges_number(terminate[9:16], len(g_lines))
    terminate = terminate[:9] + count + terminate[16:]
    rebuilt = lines[:g_index[0]] + g_lines + lines[g_index[-1] + 1:-1] + [terminate]
    out = newline.join(rebuilt) + newline * min(trailing, 1)
    return Stripped(out.encode("latin-1"), tuple(removed))


# STL --------------------------------------------------------------------------------------

_STL_SOLID = re.compile(r"(?m)^([ \t]*)(endsolid|solid)\b([^\r\n]*)", re.IGNORECASE)


def _is_binary_stl(data: bytes) -> bool:
    """Same test as ``uploads._is_binary_stl``: the size matches the declared triangle count."""
    return len(data) >= 134 and len(data) == 84 + 50 * int.from_bytes(data[80:84], "little")


def _strip_stl(data: bytes) -> Stripped | None:
    if _is_binary_stl(data):
        if not data[:80].strip(b"\x00 "):
            return Stripped(data, ())
        # Zeros: no name left, and the header no longer starts with b"solid" (read as ASCII by some tools).
        return Stripped(b"\x00" * 80 + data[80:], ("STL header",))
    if not _is_text(data) or data.lstrip()[:5].lower() != b"solid":
        return None
    text = data.decode("latin-1")
    named = False

    def drop_name(m: re.Match[str]) -> str:
        nonlocal named
        named = named or bool(m.group(3).strip())
        return m.group(1) + m.group(2)

    cleaned = _STL_SOLID.sub(drop_name, text)
    if not named:
        return Stripped(data, ())
    return Stripped(cleaned.encode("latin-1"), ("STL solid name",))


# DXF (ASCII) ------------------------------------------------------------------------------

_DXF_HEADER_VARIABLES = {
    "$LASTSAVEDBY": "DXF last saved by",
    "$AUTHOR": "DXF author",
    "$PROJECTNAME": "DXF project name",
    "$HYPERLINKBASE": "DXF hyperlink base",
}
_DXF_PATH_VARIABLES = {"$MENU": "DXF menu path", "$STYLESHEET": "DXF style sheet path"}
# DWGPROPS record: 2 title, 3 subject, 4 author, 6 comments, 7 keywords, 8 last saved by, 9 revision,
# 300-309 custom properties ("name=value").
_DWGPROPS_CODES = {2, 3, 4, 6, 7, 8, 9, *range(300, 310)}


def _looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value


def _strip_dxf(data: bytes) -> Stripped | None:
    if not _is_text(data) or data.startswith(b"AutoCAD Binary DXF"):
        return None
    lines = data.decode("latin-1").split("\n")
    used = len(lines)
    while used and not lines[used - 1].strip():
        used -= 1  # the newline after EOF, blank lines at the end
    pairs = (used + 1) // 2
    if 2 * pairs > len(lines):
        return None
    codes: list[int] = []
    for k in range(pairs):
        raw_code = lines[2 * k].strip()
        if not raw_code.lstrip("-").isdigit():
            return None
        codes.append(int(raw_code))
    removed: list[str] = []
    section = ""
    variable = ""
    in_props = False
    changed = False

    def blank(k: int) -> None:
        nonlocal changed
        line = lines[2 * k + 1]
        lines[2 * k + 1] = "\r" if line.endswith("\r") else ""
        changed = True

    for k, code in enumerate(codes):
        value = lines[2 * k + 1].rstrip("\r")
        if code == 0:
            variable = ""
            in_props = False
            if value.strip() == "ENDSEC":
                section = ""
        elif code == 2 and k > 0 and codes[k - 1] == 0 and lines[2 * k - 1].strip() == "SECTION":
            section = value.strip()
        elif section == "HEADER" and code == 9:
            variable = value.strip().upper()
        elif section == "HEADER" and 1 <= code <= 9 and value.strip():
            label = _DXF_HEADER_VARIABLES.get(variable)
            if label is None and variable in _DXF_PATH_VARIABLES and _looks_like_path(value):
                label = _DXF_PATH_VARIABLES[variable]
            if label is not None:
                blank(k)
                if label not in removed:
                    removed.append(label)
        elif code == 1 and value.strip() == "DWGPROPS COOKIE":
            in_props = True
        elif in_props and code in _DWGPROPS_CODES and value.strip():
            blank(k)
            if "DXF drawing properties" not in removed:
                removed.append("DXF drawing properties")
    if not changed:
        return Stripped(data, ())
    return Stripped("\n".join(lines).encode("latin-1"), tuple(removed))


# XLSX -------------------------------------------------------------------------------------

# The same bounds as uploads.XLSX_MAX_ENTRIES / XLSX_MAX_UNCOMPRESSED, checked before reading.
_XLSX_MAX_ENTRIES = 2_000
_XLSX_MAX_UNCOMPRESSED = 200 * 1024 * 1024


def _element_blanker(names: str) -> re.Pattern[bytes]:
    """``<prefix:name ...>text</prefix:name>`` for the given element names, any namespace prefix."""
    return re.compile(rb"(<((?:[\w.\-]+:)?)(" + names.encode() + rb")\b[^>]*(?<!/)>)(.*?)(</\2\3\s*>)", re.DOTALL)


_XLSX_PARTS: list[tuple[re.Pattern[str], re.Pattern[bytes], dict[bytes, str]]] = [
    (re.compile(r"docProps/core\.xml"), _element_blanker("creator|lastModifiedBy"),
     {b"creator": "XLSX creator", b"lastModifiedBy": "XLSX last modified by"}),
    (re.compile(r"docProps/app\.xml"), _element_blanker("Company|Manager|HyperlinkBase"),
     {b"Company": "XLSX company", b"Manager": "XLSX manager", b"HyperlinkBase": "XLSX hyperlink base"}),
    (re.compile(r"docProps/custom\.xml"), _element_blanker("lpwstr|lpstr|bstr"),
     {b"lpwstr": "XLSX custom properties", b"lpstr": "XLSX custom properties", b"bstr": "XLSX custom properties"}),
    (re.compile(r"xl/comments[^/]*\.xml"), _element_blanker("author"), {b"author": "XLSX comment authors"}),
]
_ABS_PATH = re.compile(rb"(<(?:[\w.\-]+:)?absPath\b[^>]*?\burl=\")([^\"]*)(\")")
_PERSON_ATTRIBUTES = re.compile(rb"(\b(?:displayName|userId|providerId)=\")([^\"]*)(\")")
_USER_NAME = re.compile(rb"(\buserName=\")([^\"]*)(\")")
_USER_INFO_NAME = re.compile(rb"(<(?:[\w.\-]+:)?userInfo\b[^>]*?\bname=\")([^\"]*)(\")")
_TEXT_NODE = re.compile(rb">([^<]+)<")


def _blank_elements(payload: bytes, pattern: re.Pattern[bytes], labels: dict[bytes, str],
                    removed: list[str]) -> bytes:
    def blank(m: re.Match[bytes]) -> bytes:
        if not m.group(4).strip():
            return m.group(0)
        label = labels[m.group(3)]
        if label not in removed:
            removed.append(label)
        return m.group(1) + m.group(5)

    return pattern.sub(blank, payload)


def _blank_attributes(payload: bytes, pattern: re.Pattern[bytes], label: str, removed: list[str]) -> bytes:
    def blank(m: re.Match[bytes]) -> bytes:
        if not m.group(2).strip():
            return m.group(0)
        if label not in removed:
            removed.append(label)
        return m.group(1) + m.group(3)

    return pattern.sub(blank, payload)


def _without_names(payload: bytes, names: list[bytes]) -> bytes:
    """Remove the names from the text nodes of a part (legacy comments start with "Jane Doe:")."""
    names = [n for n in names if len(n.strip()) >= 3]
    if not names:
        return payload

    def clean(m: re.Match[bytes]) -> bytes:
        text = m.group(1)
        for name in names:
            text = text.replace(name, b"")
        return b">" + text + b"<"

    return _TEXT_NODE.sub(clean, payload)


def _clean_part(name: str, payload: bytes, removed: list[str]) -> bytes:
    for part, pattern, labels in _XLSX_PARTS:
        if part.fullmatch(name):
            if labels.get(b"author"):
                authors = [m.group(4).strip() for m in pattern.finditer(payload)]
                return _without_names(_blank_elements(payload, pattern, labels, removed), authors)
            return _blank_elements(payload, pattern, labels, removed)
    if name == "xl/workbook.xml":
        payload = _blank_attributes(payload, _ABS_PATH, "XLSX file path", removed)
        return _blank_attributes(payload, _USER_NAME, "XLSX user name", removed)
    if re.fullmatch(r"xl/persons/[^/]*\.xml", name):
        return _blank_attributes(payload, _PERSON_ATTRIBUTES, "XLSX comment authors", removed)
    if re.fullmatch(r"xl/revisions/[^/]*\.xml", name):
        payload = _blank_attributes(payload, _USER_NAME, "XLSX user name", removed)
        return _blank_attributes(payload, _USER_INFO_NAME, "XLSX user name", removed)
    return payload


def _strip_xlsx(data: bytes) -> Stripped | None:
    if not data.startswith(b"PK\x03\x04"):
        return None
    archive = zipfile.ZipFile(io.BytesIO(data))
    entries = archive.infolist()
    if len(entries) > _XLSX_MAX_ENTRIES or sum(e.file_size for e in entries) > _XLSX_MAX_UNCOMPRESSED:
        return None
    if any(e.flag_bits & 0x1 for e in entries):
        return None  # encrypted
    removed: list[str] = []
    parts: list[tuple[zipfile.ZipInfo, bytes]] = []
    total = 0
    for entry in entries:
        with archive.open(entry) as stream:
            payload = stream.read(_XLSX_MAX_UNCOMPRESSED - total + 1)  # declared sizes can lie
        total += len(payload)
        if total > _XLSX_MAX_UNCOMPRESSED:
            return None
        parts.append((entry, _clean_part(entry.filename, payload, removed)))
    if archive.comment:
        removed.append("XLSX archive comment")
    if not removed:
        return Stripped(data, ())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for entry, payload in parts:
            info = zipfile.ZipInfo(entry.filename, date_time=entry.date_time)
            stored = entry.compress_type == zipfile.ZIP_STORED
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = entry.external_attr
            target.writestr(info, payload)
    return Stripped(out.getvalue(), tuple(removed))


_HANDLERS: dict[str, Callable[[bytes], Stripped | None]] = {
    "step": _strip_step,
    "iges": _strip_iges,
    "stl": _strip_stl,
    "dxf": _strip_dxf,
    "xlsx": _strip_xlsx,
    "pdf": _already_clean,
    "png": _already_clean,
    "jpeg": _already_clean,
    "dwg": _unchanged,
    "csv": _unchanged,
}
