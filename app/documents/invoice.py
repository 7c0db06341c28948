"""The company's final invoice for a completed project, rendered as PDF (reportlab, deterministic).

The hub is the seller and the company the buyer: the invoice states the client
price of the contract, what was paid upfront and held by the hub, and what was
released on acceptance. The expert appears only by pseudonym ("Expert K7Q2"),
and neither the expert's price nor the hub's fee is ever printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer

from app.documents.render import (
    boxed,
    build_pdf,
    format_money,
    format_utc,
    key_value_table,
    parties_block,
    styles,
)
from app.documents.templates import HUB_NAME, Party, expert_display_name

TITLE = "Final invoice"
EXPLANATION = (
    "The client price was paid upfront and held by Plasticonnect Hub until you accepted the work. "
    "Nothing more is due: the amount released above was settled from the funds held."
)


@dataclass(frozen=True)
class InvoiceData:
    """What the final invoice shows (amounts in minor units of ``currency``)."""

    invoice_number: str
    contract_reference: str
    issued_at: datetime  # when the held funds were released
    seller: Party  # the hub
    buyer: Party  # the company
    expert_pseudonym: str
    job_title: str
    currency: str
    client_price_minor: int
    paid_minor: int  # paid upfront and held
    released_minor: int
    refunded_minor: int = 0
    accepted_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("client_price_minor", "paid_minor", "released_minor", "refunded_minor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative whole number of minor units")
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ValueError(f"currency must be an ISO 4217 code, not {self.currency!r}")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")


def render_invoice(data: InvoiceData) -> bytes:
    """The final invoice PDF: seller and buyer, the job, the contract, the client price and what was released."""
    s = styles()

    def money(amount: int) -> str:
        return escape(format_money(amount, data.currency))

    story: list[Flowable] = [
        Paragraph(escape(TITLE), s.title),
        Paragraph(
            escape(f"Invoice {data.invoice_number} · Contract {data.contract_reference}")
            + "<br/>"
            + escape(f"Issued {format_utc(data.issued_at)}"),
            s.subtitle,
        ),
    ]
    story += parties_block([("Seller", data.seller), ("Buyer", data.buyer)], heading="Parties")
    rows: list[tuple[str, Flowable | str]] = [
        ("Invoice number", escape(data.invoice_number)),
        ("Contract reference", escape(data.contract_reference)),
        ("Job", escape(data.job_title)),
        ("Work delivered by", escape(expert_display_name(data.expert_pseudonym)) + ", through " + escape(HUB_NAME)),
    ]
    if data.accepted_at is not None:
        rows.append(("Work accepted", escape(format_utc(data.accepted_at))))
    rows += [
        ("Client price", f"<b>{money(data.client_price_minor)}</b>"),
        ("Paid upfront and held", money(data.paid_minor)),
        ("Released on acceptance", f"<b>{money(data.released_minor)}</b>"),
    ]
    if data.refunded_minor:
        rows.append(("Refunded to you", money(data.refunded_minor)))
    rows.append(("Date", escape(format_utc(data.issued_at))))
    story += [Paragraph("Invoice", s.heading), key_value_table(rows), Spacer(1, 6 * mm)]
    story += [Paragraph("Payment", s.heading), boxed([Paragraph(escape(EXPLANATION), s.cell)])]
    return build_pdf(
        story,
        title=f"{TITLE} {data.invoice_number}",
        subject=f"Final invoice for contract {data.contract_reference}",
        footer=f"{data.invoice_number} · {TITLE} · {HUB_NAME}",
        created=data.issued_at,
    )
