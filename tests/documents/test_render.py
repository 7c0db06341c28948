"""The contract, subcontract, NDA, receipt and certificate PDFs: content, anonymity, metadata, determinism."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader

from app.documents import (
    TEMPLATES,
    CompletionCertificate,
    ContractData,
    Milestone,
    Party,
    ReceiptData,
    SignatureRecord,
    TemplateKind,
    UnknownTemplate,
    current_template,
    format_money,
    get_template,
    hub_party,
    render_completion_certificate,
    render_contract,
    render_nda,
    render_receipt,
    render_subcontract,
    sha256_hex,
    template_versions,
)

ISSUED = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
PSEUDONYM = "K7Q2"
EXPERT_NAME = "Klaus Müller"
EXPERT_ADDRESS = "Lindenweg 7\n72070 Tübingen"
CLIENT_PRICE = 1_380_000  # €13,800.00: expert price + hub fee
EXPERT_PRICE = 1_200_000  # €12,000.00
HUB_FEE = CLIENT_PRICE - EXPERT_PRICE  # €1,800.00

HUB = Party("Plasticonnect Hub GmbH", address="Hafenstraße 1\n20457 Hamburg", registration_number="HRB 99887")
COMPANY = Party(
    "MoldTech Präzision GmbH",
    address="Industriestraße 12\n70565 Stuttgart",
    registration_number="HRB 734512",
    vat_id="DE298765431",
)
EXPERT = Party(EXPERT_NAME, address=EXPERT_ADDRESS, vat_id="DE111222333")
DELIVERABLES = ("Design-of-experiments plan", "Validated process window report", "Setter training (2 people)")


def text_of(pdf: bytes) -> str:
    """All text of all pages, whitespace collapsed (lines wrap anywhere)."""
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def metadata_of(pdf: bytes) -> dict[str, str]:
    return {key: str(value) for key, value in (PdfReader(io.BytesIO(pdf)).metadata or {}).items()}


def milestones(total: int) -> tuple[Milestone, ...]:
    first = total * 40 // 100
    return (
        Milestone("Process audit and DOE plan", date(2027, 1, 15), 40, first),
        Milestone("Validated process window", date(2027, 2, 26), 60, total - first),
    )


def contract_data(*, price: int = CLIENT_PRICE, counterparty: Party = COMPANY, **changes: object) -> ContractData:
    data = ContractData(
        reference="PC-2026-0042",
        job_title="Sink marks on a PA66 GF30 sensor housing",
        scope="Root-cause analysis of the sink marks.\nScientific molding study and a robust process window.",
        deliverables=DELIVERABLES,
        milestones=milestones(price),
        start_date=date(2027, 1, 4),
        end_date=date(2027, 2, 26),
        price_minor=price,
        currency="EUR",
        confidentiality_text="Both sides keep all drawings and process data secret for five years.",
        non_solicitation_text="No direct engagement of the expert outside the hub for 24 months.",
        clauses_version="2026-11",
        offer_version=3,
        hub=HUB,
        counterparty=counterparty,
        expert_pseudonym=PSEUDONYM,
        issued_at=ISSUED,
    )
    return dataclasses.replace(data, **changes) if changes else data  # type: ignore[arg-type]


def company_contract() -> bytes:
    return render_contract(contract_data())


def expert_subcontract() -> bytes:
    return render_subcontract(contract_data(price=EXPERT_PRICE, counterparty=EXPERT))


def company_nda() -> bytes:
    return render_nda(
        contract_data(), parties={"Client": COMPANY, "Hub": HUB, "Expert": Party.expert_pseudonym(PSEUDONYM)}
    )


def receipt(method: str = "bank_transfer") -> bytes:
    return render_receipt(
        ReceiptData(
            payment_reference="PAY-7F3K-Q2",
            contract_reference="PC-2026-0042",
            amount_minor=CLIENT_PRICE,
            currency="EUR",
            method=method,  # type: ignore[arg-type]
            paid_at=datetime(2026, 12, 3, 9, 15, tzinfo=UTC),
            payer=COMPANY,
            hub=HUB,
            job_title="Sink marks on a PA66 GF30 sensor housing",
        )
    )


SIGNED_SHA = "a" * 64
FINAL_SHA = "b" * 64


def certificate(*, withhold_expert: bool = True) -> bytes:
    return render_completion_certificate(
        CompletionCertificate(
            document_title="Non-Disclosure Agreement PC-2026-0042",
            document_reference="PC-2026-0042",
            document_sha256=FINAL_SHA,
            signers=(
                SignatureRecord(
                    role="Client",
                    display_name="MoldTech Präzision GmbH",
                    typed_name="Anna Weber",
                    signed_at=datetime(2026, 12, 2, 8, 0, 5, tzinfo=UTC),
                    ip="203.0.113.7",
                    user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Firefox/140.0",
                    document_sha256=SIGNED_SHA,
                ),
                SignatureRecord(
                    role="Expert",
                    display_name=f"Expert {PSEUDONYM}",
                    typed_name=EXPERT_NAME,
                    signed_at=datetime(2026, 12, 2, 9, 30, 0, tzinfo=UTC),
                    ip="198.51.100.23",
                    user_agent="ExpertBrowser/9.1",
                    document_sha256=SIGNED_SHA,
                    withhold_identity=withhold_expert,
                ),
            ),
            sealed_at=datetime(2026, 12, 2, 9, 31, tzinfo=UTC),
        )
    )


ALL_DOCUMENTS = {
    "contract": company_contract,
    "subcontract": expert_subcontract,
    "nda": company_nda,
    "receipt": receipt,
    "certificate": certificate,
}


# Money and templates ---------------------------------------------------------------------


def test_money_is_formatted_from_minor_units():
    assert format_money(123_450, "EUR") == "€1,234.50"
    assert format_money(5, "USD") == "$0.05"
    assert format_money(0, "GBP") == "£0.00"
    assert format_money(1_234, "JPY") == "¥1,234"  # no minor unit


def test_templates_are_identified_by_kind_and_version():
    for kind in (TemplateKind.CONTRACT, TemplateKind.SUBCONTRACT, TemplateKind.NDA):
        template = get_template(kind, "2026-12")
        assert (template.kind, template.version) == (kind, "2026-12")
        assert current_template(kind) is template
        assert "2026-12" in template_versions(kind)
    assert len(TEMPLATES) == len(set(TEMPLATES))
    with pytest.raises(UnknownTemplate):
        get_template(TemplateKind.CONTRACT, "1999-01")
    with pytest.raises(UnknownTemplate):
        get_template("lease", "2026-12")
    with pytest.raises(UnknownTemplate):
        render_contract(contract_data(template_version="1999-01"))


def test_every_template_text_fills_without_missing_placeholders():
    # A typo in a $placeholder would only show when rendering: render every kind once.
    for render in ALL_DOCUMENTS.values():
        assert render().startswith(b"%PDF-")


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="add up to the price"):
        contract_data(milestones=milestones(CLIENT_PRICE - 1))
    with pytest.raises(ValueError, match="100 percent"):
        contract_data(milestones=(Milestone("All", date(2027, 1, 1), 90, CLIENT_PRICE),))
    with pytest.raises(ValueError, match="whole number"):
        Milestone("Half", date(2027, 1, 1), 50, 10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone"):
        contract_data(issued_at=datetime(2026, 12, 1, 10, 30))
    with pytest.raises(ValueError, match="real identity"):
        contract_data(counterparty=Party.expert_pseudonym(PSEUDONYM))
    with pytest.raises(ValueError, match="pseudonymous"):
        Party("Expert K7Q2", address="Somewhere 1", pseudonymous=True)
    with pytest.raises(ValueError, match="card"):
        ReceiptData("P", "C", 1, "EUR", "cash", ISSUED, COMPANY, HUB)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SHA-256"):
        SignatureRecord("Client", "X", "X", ISSUED, "::1", "ua", "not-a-digest")
    assert Party.expert_pseudonym("K7Q2").name == "Expert K7Q2"


def test_hub_party_comes_from_the_settings():
    party = hub_party({"HUB_LEGAL_NAME": "Plasticonnect Hub GmbH", "HUB_ADDRESS": "Hafenstraße 1\n20457 Hamburg"})
    assert party == Party("Plasticonnect Hub GmbH", address="Hafenstraße 1\n20457 Hamburg")


# Company contract ------------------------------------------------------------------------


def test_contract_holds_the_parties_price_milestones_deliverables_and_versions():
    text = text_of(company_contract())

    assert "Service Contract" in text
    for value in ("MoldTech Präzision GmbH", "Industriestraße 12", "HRB 734512", "DE298765431"):
        assert value in text
    assert "Plasticonnect Hub GmbH" in text and "Hafenstraße 1" in text
    assert "€13,800.00" in text  # the client price
    for milestone in milestones(CLIENT_PRICE):
        assert milestone.title in text
        assert format_money(milestone.amount_minor, "EUR") in text
        assert f"{milestone.share_percent} %" in text
    assert "15 January 2027" in text and "26 February 2027" in text
    for deliverable in DELIVERABLES:
        assert deliverable in text
    assert "Template contract 2026-12" in text and "template contract 2026-12" in text  # header and footer
    assert "version 2026-11" in text  # the confidentiality and non-solicitation clauses' version
    assert "Offer version 3" in text
    assert "Both sides keep all drawings" in text and "No direct engagement of the expert" in text
    assert "Root-cause analysis of the sink marks" in text
    assert "4 January 2027" in text
    assert "funds are held by Plasticonnect until the Client accepts the work" in text
    assert "PC-2026-0042" in text and "Page 1 of" in text


def test_contract_names_the_expert_only_by_pseudonym_and_hides_the_expert_price():
    text = text_of(company_contract())

    assert f"Expert {PSEUDONYM}" in text
    assert "Klaus" not in text and "Müller" not in text and "Tübingen" not in text
    assert "€12,000.00" not in text  # the expert price
    for milestone in milestones(EXPERT_PRICE):
        assert format_money(milestone.amount_minor, "EUR") not in text


def test_user_text_is_printed_literally_never_as_markup():
    pdf = render_contract(contract_data(job_title="Tool <b>A</b> & B", scope="x < y & <i>z</i>"))
    text = text_of(pdf)
    assert "Tool <b>A</b> & B" in text
    assert "x < y & <i>z</i>" in text


# Subcontract -----------------------------------------------------------------------------


def test_subcontract_holds_the_expert_price_and_never_the_client_price_or_the_fee():
    text = text_of(expert_subcontract())

    assert "Subcontract for Expert Services" in text
    assert EXPERT_NAME in text and "Lindenweg 7" in text and "DE111222333" in text
    assert f"Expert {PSEUDONYM}" in text  # the pseudonym the expert must keep to
    assert "€12,000.00" in text
    for milestone in milestones(EXPERT_PRICE):
        assert milestone.title in text and format_money(milestone.amount_minor, "EUR") in text
    assert "€13,800.00" not in text  # the client price
    assert format_money(HUB_FEE, "EUR") not in text
    for milestone in milestones(CLIENT_PRICE):
        assert format_money(milestone.amount_minor, "EUR") not in text
    assert " fee" not in text.lower()
    assert "MoldTech" not in text  # the client's identity is not part of the subcontract
    for deliverable in DELIVERABLES:
        assert deliverable in text
    assert "template subcontract 2026-12" in text and "version 2026-11" in text


# NDA, receipt, certificate ---------------------------------------------------------------


def test_nda_lists_every_party_with_the_expert_as_pseudonym():
    text = text_of(company_nda())

    assert "Non-Disclosure Agreement" in text
    assert "MoldTech Präzision GmbH" in text and "Plasticonnect Hub GmbH" in text
    assert f"Expert {PSEUDONYM}" in text and "Identity held in confidence by Plasticonnect Hub" in text
    assert "Klaus" not in text and "Müller" not in text
    assert "FOR THE EXPERT" in text and "FOR THE CLIENT" in text and "FOR THE HUB" in text
    assert "Sink marks on a PA66 GF30 sensor housing" in text
    assert "template nda 2026-12" in text


def test_nda_needs_two_parties():
    with pytest.raises(ValueError, match="two parties"):
        render_nda(contract_data(), parties={"Client": COMPANY})


def test_receipt_explains_that_the_hub_holds_the_funds():
    text = text_of(receipt())

    assert "Payment Receipt" in text
    assert "PAY-7F3K-Q2" in text and "PC-2026-0042" in text
    assert "€13,800.00" in text and "Bank transfer" in text
    assert "2026-12-03 09:15:00 UTC" in text
    assert "The funds are held by Plasticonnect until you accept the work" in text
    assert "MoldTech Präzision GmbH" in text
    assert "Card" in text_of(receipt("card"))


def test_certificate_lists_each_signature_and_withholds_the_pseudonymous_identity():
    text = text_of(certificate())

    assert "Certificate of Completion" in text
    assert FINAL_SHA in text and text.count(SIGNED_SHA) == 2
    assert "Anna Weber" in text and "203.0.113.7" in text and "Firefox/140.0" in text
    assert "2026-12-02 08:00:05 UTC" in text and "2026-12-02 09:30:00 UTC" in text
    assert "2026-12-02 09:31:00 UTC" in text  # the seal time
    assert f"Expert {PSEUDONYM}" in text
    assert EXPERT_NAME not in text and "198.51.100.23" not in text and "ExpertBrowser" not in text
    assert "withheld in this copy" in text

    hub_copy = text_of(certificate(withhold_expert=False))
    assert EXPERT_NAME in hub_copy and "198.51.100.23" in hub_copy and "ExpertBrowser/9.1" in hub_copy


# Metadata and determinism ----------------------------------------------------------------


ALLOWED_METADATA = frozenset(
    {"/Title", "/Subject", "/Author", "/Creator", "/Producer", "/Keywords", "/CreationDate", "/ModDate", "/Trapped"}
)


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_metadata_names_only_the_document_and_the_hub(name):
    meta = metadata_of(ALL_DOCUMENTS[name]())

    assert meta["/Author"] == meta["/Creator"] == meta["/Producer"] == "Plasticonnect Hub"
    assert meta["/Title"] and meta["/Subject"]
    assert set(meta) <= ALLOWED_METADATA
    assert meta.get("/Keywords", "") == ""
    joined = " ".join(meta.values())
    assert "Klaus" not in joined and "Müller" not in joined and "ReportLab" not in joined


def test_contract_metadata_has_title_subject_and_the_date_from_the_data():
    meta = metadata_of(company_contract())
    assert meta["/Title"] == "Service Contract PC-2026-0042"
    assert meta["/Subject"] == "Sink marks on a PA66 GF30 sensor housing"
    assert meta["/CreationDate"] == meta["/ModDate"] == "D:20261201103000+00'00'"


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_rendering_twice_gives_identical_bytes(name):
    first, second = ALL_DOCUMENTS[name](), ALL_DOCUMENTS[name]()
    assert first == second
    assert sha256_hex(first) == sha256_hex(second)


def test_different_data_gives_different_bytes():
    later = render_contract(contract_data(issued_at=ISSUED + timedelta(seconds=1)))
    assert later != company_contract()


def test_documents_are_a4_with_page_numbers_on_every_page():
    reader = PdfReader(io.BytesIO(company_contract()))
    assert len(reader.pages) >= 2
    for number, page in enumerate(reader.pages, start=1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == (595, 842)
        page_text = page.extract_text()
        assert f"Page {number} of {len(reader.pages)}" in page_text
        assert "Plasticonnect Hub" in page_text and "PC-2026-0042" in page_text
