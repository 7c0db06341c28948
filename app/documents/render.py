"""Render the hub's documents as PDF with reportlab (platypus).

Output is deterministic: the same input gives the same bytes (reportlab's
invariant mode, the creation date taken from the data, fixed metadata), so the
SHA-256 a signer was shown can be reproduced. The fonts are DejaVu Sans from
Debian's ``fonts-dejavu-core`` (wide Latin, Greek and Cyrillic coverage for
company names), with reportlab's bundled Vera as the fallback; the same
machine image therefore always renders the same bytes.

PDF metadata carries the title and subject, ``Plasticonnect Hub`` as author,
creator and producer, and nothing else: in particular never the expert's name.
"""

from __future__ import annotations

import functools
import hashlib
import io
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app.documents.templates import (
    HUB_NAME,
    Clause,
    CompletionCertificate,
    ContractData,
    DocumentTemplate,
    Party,
    ReceiptData,
    SignatureRecord,
    TemplateKind,
    expert_display_name,
    get_template,
)

LOCALE = "en"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 20 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#cbd2d9")
SHADE = colors.HexColor("#f0f4f8")
ACCENT = colors.HexColor("#0b5394")

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_VERA = Path(reportlab.__file__).resolve().parent / "fonts"
FONT_CANDIDATES: tuple[tuple[Path, Path], ...] = (
    (_DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"),
    (_VERA / "Vera.ttf", _VERA / "VeraBd.ttf"),
)
FONT = "HubSans"
FONT_BOLD = "HubSans-Bold"
MONO = "Courier"  # hex digests and IP addresses are ASCII


@functools.cache
def _register_fonts() -> None:
    for regular, bold in FONT_CANDIDATES:
        if regular.is_file() and bold.is_file():
            pdfmetrics.registerFont(TTFont(FONT, str(regular)))
            pdfmetrics.registerFont(TTFont(FONT_BOLD, str(bold)))
            pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)
            return
    raise RuntimeError("no usable TrueType font found (apt-get install fonts-dejavu-core)")


@dataclass(frozen=True)
class Styles:
    title: ParagraphStyle
    subtitle: ParagraphStyle
    heading: ParagraphStyle
    body: ParagraphStyle
    clause: ParagraphStyle
    item: ParagraphStyle
    small: ParagraphStyle
    cell: ParagraphStyle
    cell_bold: ParagraphStyle
    cell_right: ParagraphStyle
    label: ParagraphStyle
    mono: ParagraphStyle


@functools.cache
def styles() -> Styles:
    """The paragraph styles every hub document uses (fonts registered once)."""
    _register_fonts()
    body = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13.5, textColor=INK, spaceAfter=5)
    cell = ParagraphStyle("cell", parent=body, fontSize=8.5, leading=11.5, spaceAfter=0)
    return Styles(
        title=ParagraphStyle(
            "title", parent=body, fontName=FONT_BOLD, fontSize=19, leading=24, spaceAfter=3, textColor=ACCENT
        ),
        subtitle=ParagraphStyle("subtitle", parent=body, fontSize=8.5, leading=12, textColor=MUTED, spaceAfter=10),
        heading=ParagraphStyle(
            "heading",
            parent=body,
            fontName=FONT_BOLD,
            fontSize=11,
            leading=15,
            spaceBefore=9,
            spaceAfter=4,
            keepWithNext=1,
        ),
        body=body,
        clause=ParagraphStyle("clause", parent=body, leftIndent=10 * mm, bulletIndent=0, bulletFontName=FONT),
        item=ParagraphStyle(
            "item", parent=body, leftIndent=20 * mm, bulletIndent=10 * mm, bulletFontName=FONT, spaceAfter=3
        ),
        small=ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=MUTED),
        cell=cell,
        cell_bold=ParagraphStyle("cell_bold", parent=cell, fontName=FONT_BOLD),
        cell_right=ParagraphStyle("cell_right", parent=cell, alignment=TA_RIGHT),
        label=ParagraphStyle("label", parent=cell, fontSize=7.5, leading=10, textColor=MUTED),
        mono=ParagraphStyle("mono", parent=cell, fontName=MONO, fontSize=7.5, leading=10),
    )


# Formatting ------------------------------------------------------------------------------


def format_money(amount_minor: int, currency: str) -> str:
    """``123450, "EUR"`` → ``€1,234.50``: integer minor units to a display string (never via float)."""
    amount = Decimal(amount_minor).scaleb(-get_currency_precision(currency))
    return str(format_currency(amount, currency, locale=LOCALE))


def format_day(value: date) -> str:
    """``1 December 2026``."""
    return str(format_date(value, "d MMMM y", locale=LOCALE))


def format_utc(value: datetime) -> str:
    """``2026-12-01 14:05:09 UTC``."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def sha256_hex(data: bytes) -> str:
    """The lower-case hex SHA-256 of ``data`` (what signers and the certificate of completion refer to)."""
    return hashlib.sha256(data).hexdigest()


def _text(value: str) -> str:
    """User text made safe for a reportlab paragraph: escaped, line breaks kept."""
    return "<br/>".join(escape(line) for line in value.strip().splitlines())


def _fill(text: str, values: Mapping[str, str]) -> str:
    return string.Template(text).substitute({key: escape(value) for key, value in values.items()})


# Page furniture --------------------------------------------------------------------------


class _HubCanvas(Canvas):
    """Adds the footer with "Page n of N" (two passes over the saved pages) and a fixed creation date."""

    def __init__(self, *args: Any, footer: str, created: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict[str, Any]] = []
        stamp = created.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
        self.setDateFormatter(lambda *_parts: stamp)

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        """Draw every page's footer now that the page count is known, then write the file."""
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._draw_footer(number, total)
            super().showPage()
        super().save()

    def _draw_footer(self, number: int, total: int) -> None:
        self.saveState()
        self.setStrokeColor(RULE)
        self.setLineWidth(0.5)
        self.line(MARGIN, 14 * mm, PAGE_WIDTH - MARGIN, 14 * mm)
        self.setFillColor(MUTED)
        self.setFont(FONT, 7.5)
        self.drawString(MARGIN, 10 * mm, self._footer)
        self.drawRightString(PAGE_WIDTH - MARGIN, 10 * mm, f"Page {number} of {total}")
        self.restoreState()


def build_pdf(story: list[Flowable], *, title: str, subject: str, footer: str, created: datetime) -> bytes:
    """Lay out ``story`` on the hub's A4 pages with the footer and PDF metadata; the PDF bytes."""
    _register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=22 * mm,
        title=title,
        subject=subject,
        author=HUB_NAME,
        creator=HUB_NAME,
        producer=HUB_NAME,
        keywords="",
        invariant=1,
        lang="en",
    )
    canvasmaker: Callable[..., Canvas] = functools.partial(_HubCanvas, footer=footer, created=created)
    doc.build(story, canvasmaker=canvasmaker)
    return buffer.getvalue()


def _footer(reference: str, template: DocumentTemplate) -> str:
    return f"{reference} · {template.title} · template {template.label} · {HUB_NAME}"


def _header(template: DocumentTemplate, subtitle: str) -> list[Flowable]:
    s = styles()
    return [Paragraph(escape(template.title), s.title), Paragraph(subtitle, s.subtitle)]


# Building blocks -------------------------------------------------------------------------


def _party_cell(role: str, party: Party) -> list[Flowable]:
    s = styles()
    cell: list[Flowable] = [Paragraph(escape(role).upper(), s.label), Paragraph(escape(party.name), s.cell_bold)]
    if party.pseudonymous:
        cell.append(Paragraph("Identity held in confidence by Plasticonnect Hub", s.label))
    if party.address:
        cell.append(Paragraph(_text(party.address), s.cell))
    if party.registration_number:
        cell.append(Paragraph(f"Registration no. {escape(party.registration_number)}", s.cell))
    if party.vat_id:
        cell.append(Paragraph(f"VAT ID {escape(party.vat_id)}", s.cell))
    return cell


def _grid(cells: Sequence[list[Flowable]], *, columns: int) -> Table:
    """Cells in rows of ``columns`` side by side, each in a light box."""
    rows: list[list[Any]] = []
    for start in range(0, len(cells), columns):
        row: list[Any] = list(cells[start : start + columns])
        row += [""] * (columns - len(row))
        rows.append(row)
    width = CONTENT_WIDTH / columns
    table = Table(rows, colWidths=[width] * columns, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("RIGHTPADDING", (0, 0), (-1, -1), 6),
        ("TOPPADDING", (0, 0), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value != "":
                commands += [("BOX", (c, r), (c, r), 0.5, RULE), ("BACKGROUND", (c, r), (c, r), SHADE)]
    table.setStyle(TableStyle(commands))
    return table


def parties_block(parties: Sequence[tuple[str, Party]], *, heading: str = "Between") -> list[Flowable]:
    """The parties of a document, each in a cell of a grid, under ``heading``."""
    s = styles()
    columns = 3 if len(parties) > 2 else 2
    return [
        Paragraph(escape(heading), s.heading),
        _grid([_party_cell(role, party) for role, party in parties], columns=columns),
        Spacer(1, 4 * mm),
    ]


def boxed(paragraphs: Iterable[Flowable]) -> Table:
    """``paragraphs`` in a framed box, right-aligned to the text column."""
    table = Table([[list(paragraphs)]], colWidths=[CONTENT_WIDTH - 10 * mm], hAlign="RIGHT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), SHADE),
                ("LINEBEFORE", (0, 0), (0, -1), 2, ACCENT),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return table


def _milestones_table(data: ContractData) -> Flowable:
    s = styles()
    if not data.milestones:
        return Paragraph(
            f"No separate milestones: the whole price of {escape(format_money(data.price_minor, data.currency))} "
            f"is due on completion.",
            s.clause,
        )
    header = ["No.", "Milestone", "Due date", "Share", "Amount"]
    rows: list[list[Any]] = [[Paragraph(h, s.cell_bold) for h in header]]
    for number, milestone in enumerate(data.milestones, start=1):
        rows.append(
            [
                Paragraph(str(number), s.cell),
                Paragraph(_text(milestone.title), s.cell),
                Paragraph(escape(format_day(milestone.due_date)), s.cell),
                Paragraph(f"{milestone.share_percent} %", s.cell_right),
                Paragraph(escape(format_money(milestone.amount_minor, data.currency)), s.cell_right),
            ]
        )
    rows.append(
        [
            "",
            Paragraph("Total", s.cell_bold),
            "",
            Paragraph("100 %", s.cell_right),
            Paragraph(f"<b>{escape(format_money(data.price_minor, data.currency))}</b>", s.cell_right),
        ]
    )
    widths = [10 * mm, None, 30 * mm, 16 * mm, 32 * mm]
    fixed = sum(w for w in widths if w is not None)
    col_widths = [w if w is not None else CONTENT_WIDTH - 10 * mm - fixed for w in widths]
    table = Table(rows, colWidths=col_widths, hAlign="RIGHT", repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("LINEBELOW", (0, 0), (-1, 0), 0.75, INK),
                ("LINEBELOW", (0, 1), (-1, -2), 0.25, RULE),
                ("LINEABOVE", (0, -1), (-1, -1), 0.75, INK),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def _block(name: str, data: ContractData) -> list[Flowable]:
    s = styles()
    if name == "scope":
        return [boxed([Paragraph(_text(data.scope), s.cell)]), Spacer(1, 3 * mm)]
    if name == "deliverables":
        if not data.deliverables:
            return [Paragraph("No separate deliverables are listed.", s.clause)]
        return [Paragraph(_text(item), s.item, bulletText=f"D{n}") for n, item in enumerate(data.deliverables, start=1)]
    if name == "milestones":
        return [_milestones_table(data), Spacer(1, 3 * mm)]
    if name == "confidentiality":
        return [boxed([Paragraph(_text(data.confidentiality_text), s.cell)]), Spacer(1, 3 * mm)]
    if name == "non_solicitation":
        return [boxed([Paragraph(_text(data.non_solicitation_text), s.cell)]), Spacer(1, 3 * mm)]
    raise ValueError(f"unknown template block {name!r}")


def _clauses(clauses: Sequence[Clause], values: Mapping[str, str], data: ContractData | None = None) -> list[Flowable]:
    s = styles()
    story: list[Flowable] = []
    for n, clause in enumerate(clauses, start=1):
        story.append(Paragraph(f"{n}.&nbsp;&nbsp;{escape(clause.heading)}", s.heading))
        for m, paragraph in enumerate(clause.paragraphs, start=1):
            story.append(Paragraph(_fill(paragraph, values), s.clause, bulletText=f"{n}.{m}"))
        if clause.block is not None:
            if data is None:
                raise ValueError(f"clause {clause.heading!r} needs contract data")
            story += _block(clause.block, data)
    return story


def _signature_blocks(template: DocumentTemplate, parties: Sequence[tuple[str, Party]]) -> list[Flowable]:
    s = styles()
    cells: list[list[Flowable]] = []
    for role, party in parties:
        cells.append(
            [
                Paragraph(f"FOR THE {escape(role).upper()}", s.label),
                Paragraph(escape(party.name), s.cell_bold),
                Spacer(1, 6 * mm),
                Paragraph("Name typed as signature", s.label),
                Paragraph("_" * 30, s.cell),
                Spacer(1, 3 * mm),
                Paragraph("Date and time (UTC)", s.label),
                Paragraph("_" * 30, s.cell),
            ]
        )
    columns = 3 if len(parties) > 2 else 2
    return [
        KeepTogether(
            [
                Paragraph("Signatures", s.heading),
                Paragraph(escape(template.closing), s.small),
                _grid(cells, columns=columns),
            ]
        )
    ]


def _contract_values(data: ContractData) -> dict[str, str]:
    return {
        "job_title": data.job_title,
        "offer_version": str(data.offer_version),
        "reference": data.reference,
        "expert": expert_display_name(data.expert_pseudonym),
        "start_date": format_day(data.start_date),
        "end_date": format_day(data.end_date),
        "price": format_money(data.price_minor, data.currency),
        "clauses_version": data.clauses_version,
    }


def _subtitle(*lines: Sequence[str]) -> str:
    """Lines of facts under the title, the facts of a line separated by middle dots."""
    return "<br/>".join(" &nbsp;·&nbsp; ".join(escape(part) for part in line if part) for line in lines)


def _agreement(template: DocumentTemplate, data: ContractData, parties: Sequence[tuple[str, Party]]) -> bytes:
    s = styles()
    values = _contract_values(data)
    story = _header(
        template,
        _subtitle(
            (
                f"Reference {data.reference}",
                f"Offer version {data.offer_version}",
                f"Date {format_day(data.issued_at.astimezone(UTC).date())}",
            ),
            (f"Template {template.label}", f"Confidentiality and non-solicitation clauses {data.clauses_version}"),
        ),
    )
    story += parties_block(parties)
    story += [Paragraph(_fill(p, values), s.body) for p in template.preamble]
    story += _clauses(template.clauses, values, data)
    story.append(Spacer(1, 4 * mm))
    story += _signature_blocks(template, parties)
    return build_pdf(
        story,
        title=f"{template.title} {data.reference}",
        subject=data.job_title,
        footer=_footer(data.reference, template),
        created=data.issued_at,
    )


# Public renderers ------------------------------------------------------------------------


def render_contract(data: ContractData) -> bytes:
    """The service contract between the company (``data.counterparty``) and the hub, at the client price.

    Company-facing: the expert appears only as ``Expert <pseudonym>``.
    """
    template = get_template(TemplateKind.CONTRACT, data.template_version)
    return _agreement(template, data, [("Client", data.counterparty), ("Hub", data.hub)])


def render_subcontract(data: ContractData) -> bytes:
    """The subcontract between the hub and the expert (``data.counterparty``, real identity), at the expert price.

    ``data`` must be built with the expert price; the client price and the hub's fee are not part of it.
    """
    template = get_template(TemplateKind.SUBCONTRACT, data.template_version)
    return _agreement(template, data, [("Hub", data.hub), ("Expert", data.counterparty)])


def render_nda(data: ContractData, *, parties: Mapping[str, Party]) -> bytes:
    """The non-disclosure agreement for the job of ``data`` between ``parties`` (role → party, in order).

    For the copy the company signs, pass the expert as :meth:`Party.expert_pseudonym`.
    """
    if len(parties) < 2:
        raise ValueError("a non-disclosure agreement needs at least two parties")
    template = get_template(TemplateKind.NDA, data.template_version)
    s = styles()
    values = {"job_title": data.job_title, "reference": data.reference}
    ordered = list(parties.items())
    story = _header(
        template,
        _subtitle(
            (f"Reference {data.reference}", f"Date {format_day(data.issued_at.astimezone(UTC).date())}"),
            (f"Template {template.label}",),
        ),
    )
    story += parties_block(ordered)
    story += [Paragraph(_fill(p, values), s.body) for p in template.preamble]
    story += _clauses(template.clauses, values)
    story.append(Spacer(1, 4 * mm))
    story += _signature_blocks(template, ordered)
    return build_pdf(
        story,
        title=f"{template.title} {data.reference}",
        subject=data.job_title,
        footer=_footer(data.reference, template),
        created=data.issued_at,
    )


def key_value_table(rows: Sequence[tuple[str, Flowable | str]], *, label_width: float = 45 * mm) -> Table:
    """A two-column table of labels and values (documents' summaries)."""
    s = styles()
    body = [
        [Paragraph(escape(label), s.label), value if isinstance(value, Flowable) else Paragraph(value, s.cell)]
        for label, value in rows
    ]
    table = Table(body, colWidths=[label_width, CONTENT_WIDTH - label_width], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


_METHODS = {"card": "Card (through the payment provider)", "bank_transfer": "Bank transfer"}


def render_receipt(data: ReceiptData) -> bytes:
    """The receipt for the company's upfront payment, explaining that the hub holds the funds."""
    template = get_template(TemplateKind.RECEIPT, data.template_version)
    s = styles()
    values = {"contract_reference": data.contract_reference}
    story = _header(
        template,
        _subtitle(
            (f"Payment reference {data.payment_reference}", f"Contract {data.contract_reference}"),
            (f"Template {template.label}",),
        ),
    )
    story += parties_block([("Received from", data.payer), ("Received by", data.hub)], heading="Payment")
    story += [Paragraph(_fill(p, values), s.body) for p in template.preamble]
    rows: list[tuple[str, Flowable | str]] = [
        ("Amount received", f"<b>{escape(format_money(data.amount_minor, data.currency))}</b>"),
        ("Payment method", escape(_METHODS[data.method])),
        ("Date received", escape(format_utc(data.paid_at))),
        ("Payment reference", escape(data.payment_reference)),
        ("Contract reference", escape(data.contract_reference)),
    ]
    if data.job_title:
        rows.append(("Job", escape(data.job_title)))
    story += [key_value_table(rows), Spacer(1, 6 * mm)]
    story += [Paragraph("Where your money is", s.heading), boxed([Paragraph(_text(data.explanation), s.cell)])]
    story += [Spacer(1, 4 * mm)] + [Paragraph(escape(note), s.small) for note in template.notes]
    return build_pdf(
        story,
        title=f"{template.title} {data.payment_reference}",
        subject=f"Payment for contract {data.contract_reference}",
        footer=_footer(data.payment_reference, template),
        created=data.paid_at,
    )


_WITHHELD = "<i>withheld in this copy</i>"


def _signature_record(record: SignatureRecord) -> Flowable:
    s = styles()
    withheld = record.withhold_identity
    rows: list[tuple[str, Flowable | str]] = [
        ("Role", escape(record.role)),
        ("Signer", f"<b>{escape(record.display_name)}</b>"),
        ("Typed name", _WITHHELD if withheld else escape(record.typed_name)),
        ("Signed at", escape(format_utc(record.signed_at))),
        ("IP address", _WITHHELD if withheld else Paragraph(escape(record.ip), s.mono)),
        ("User agent", _WITHHELD if withheld else escape(record.user_agent)),
        ("SHA-256 of the PDF signed", Paragraph(record.document_sha256, s.mono)),
    ]
    return KeepTogether([key_value_table(rows), Spacer(1, 5 * mm)])


def render_completion_certificate(data: CompletionCertificate) -> bytes:
    """The certificate of completion: every click-wrap signature, the final fingerprint and the seal time.

    Records marked ``withhold_identity`` show only the display name (the pseudonym).
    """
    template = get_template(TemplateKind.COMPLETION_CERTIFICATE, data.template_version)
    s = styles()
    story = _header(template, _subtitle((f"Reference {data.document_reference}", f"Template {template.label}")))
    story += [Paragraph(escape(p), s.body) for p in template.preamble]
    story += [
        Paragraph("Document", s.heading),
        key_value_table(
            [
                ("Title", escape(data.document_title)),
                ("Reference", escape(data.document_reference)),
                ("SHA-256 of the final PDF", Paragraph(data.document_sha256, s.mono)),
                ("Sealed by Plasticonnect Hub", escape(format_utc(data.sealed_at))),
            ]
        ),
        Paragraph("Signatures", s.heading),
    ]
    story += [_signature_record(record) for record in data.signers]
    if any(record.withhold_identity for record in data.signers):
        story += [Paragraph(escape(note), s.small) for note in template.notes]
    return build_pdf(
        story,
        title=f"{template.title} {data.document_reference}",
        subject=data.document_title,
        footer=_footer(data.document_reference, template),
        created=data.sealed_at,
    )


# Quality control (issue 6) ---------------------------------------------------------------
# Appended so that the renderers above stay byte-for-byte what they were.

from app.documents.templates import QC_NDA_KIND, QcNdaData, get_qc_nda_template  # noqa: E402


def _qc_signature_blocks(template: DocumentTemplate, hub: Party, expert: Party) -> list[Flowable]:
    """The expert's click-wrap signature lines, and the hub's seal in place of a typed name."""
    s = styles()
    cells: list[list[Flowable]] = [
        [
            Paragraph("FOR THE HUB", s.label),
            Paragraph(escape(hub.name), s.cell_bold),
            Spacer(1, 6 * mm),
            Paragraph("Electronic seal of the Hub, applied after the Expert's signature", s.label),
        ],
        [
            Paragraph("THE EXPERT", s.label),
            Paragraph(escape(expert.name), s.cell_bold),
            Spacer(1, 6 * mm),
            Paragraph("Name typed as signature", s.label),
            Paragraph("_" * 30, s.cell),
            Spacer(1, 3 * mm),
            Paragraph("Date and time (UTC)", s.label),
            Paragraph("_" * 30, s.cell),
        ],
    ]
    return [
        KeepTogether(
            [
                Paragraph("Signatures", s.heading),
                Paragraph(escape(template.closing), s.small),
                _grid(cells, columns=2),
            ]
        )
    ]


def render_qc_nda(data: QcNdaData) -> bytes:
    """The NDA between the hub and a project's quality-control expert (by pseudonym only; no price)."""
    template = get_qc_nda_template(data.template_version)
    s = styles()
    expert = Party.expert_pseudonym(data.expert_pseudonym)
    values = {
        "job_title": data.job_title,
        "reference": data.reference,
        "expert": expert_display_name(data.expert_pseudonym),
    }
    label = f"{QC_NDA_KIND} {template.version}"
    story = _header(
        template,
        _subtitle(
            (f"Contract reference {data.reference}", f"Date {format_day(data.issued_at.astimezone(UTC).date())}"),
            (f"Template {label}",),
        ),
    )
    story += parties_block([("Hub", data.hub), ("Expert", expert)])
    story += [Paragraph(_fill(p, values), s.body) for p in template.preamble]
    story += _clauses(template.clauses, values)
    story.append(Spacer(1, 4 * mm))
    story += _qc_signature_blocks(template, data.hub, expert)
    return build_pdf(
        story,
        title=f"{template.title} {data.reference}",
        subject=data.job_title,
        footer=f"{data.reference} · {template.title} · template {label} · {HUB_NAME}",
        created=data.issued_at,
    )
