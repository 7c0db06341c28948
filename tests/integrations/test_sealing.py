"""The hub seal: key material, PAdES sealing, and verification of intact, changed and foreign PDFs."""

from __future__ import annotations

import functools
import io
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers

from app.documents import Party, ReceiptData, render_receipt
from app.integrations.sealing import (
    SUMMARY_CHANGED,
    SUMMARY_NOT_PDF,
    SUMMARY_NOT_SEALED,
    SealingError,
    certificate_fingerprint,
    ensure_hub_certificate,
    seal_pdf,
    verify_sealed_pdf,
)
from tests.integrations.conftest import KeyPair, make_key_pair

REASON = "Agreement sealed by Plasticonnect Hub"


@functools.cache
def unsealed_pdf() -> bytes:
    return render_receipt(
        ReceiptData(
            payment_reference="PAY-1",
            contract_reference="PC-2026-0042",
            amount_minor=1_380_000,
            currency="EUR",
            method="card",
            paid_at=datetime(2026, 12, 3, 9, 15, tzinfo=UTC),
            payer=Party("MoldTech Präzision GmbH", address="Industriestraße 12\n70565 Stuttgart"),
            hub=Party("Plasticonnect Hub"),
        )
    )


def sealed(keys: KeyPair, pdf: bytes | None = None) -> bytes:
    return seal_pdf(pdf or unsealed_pdf(), reason=REASON, key_path=keys.key_path, cert_path=keys.cert_path)


@pytest.fixture(scope="module")
def sealed_pdf(hub_keys: KeyPair) -> bytes:
    return sealed(hub_keys)


# Key and certificate ---------------------------------------------------------------------


def test_the_certificate_is_self_signed_for_signing_and_the_key_is_owner_only(hub_keys):
    cert = x509.load_pem_x509_certificate(hub_keys.cert_path.read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert cert.issuer == cert.subject
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "Plasticonnect Hub document seal"
    assert cert.public_key().key_size == 3072  # type: ignore[union-attr]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=3649)
    assert stat.S_IMODE(os.stat(hub_keys.key_path).st_mode) == 0o600
    assert b"PRIVATE KEY" in hub_keys.key_path.read_bytes()
    assert len(certificate_fingerprint(hub_keys.cert_path).split(":")) == 32


def test_ensure_leaves_existing_files_alone(hub_keys):
    before = hub_keys.key_path.read_bytes(), hub_keys.cert_path.read_bytes()
    ensure_hub_certificate(hub_keys.key_path, hub_keys.cert_path, common_name="Other", organisation="Other")
    assert (hub_keys.key_path.read_bytes(), hub_keys.cert_path.read_bytes()) == before


def test_ensure_reissues_a_missing_certificate_for_the_existing_key(tmp_path):
    keys = make_key_pair(tmp_path)
    key_before = keys.key_path.read_bytes()
    keys.cert_path.unlink()

    ensure_hub_certificate(keys.key_path, keys.cert_path, common_name="Hub seal", organisation="Hub")

    assert keys.key_path.read_bytes() == key_before
    assert verify_sealed_pdf(sealed(keys), cert_path=keys.cert_path).ok


def test_ensure_refuses_a_certificate_without_its_key_or_a_foreign_pair(tmp_path, hub_keys, other_keys):
    lonely = tmp_path / "cert.pem"
    lonely.write_bytes(hub_keys.cert_path.read_bytes())
    with pytest.raises(SealingError, match="missing"):
        ensure_hub_certificate(tmp_path / "key.pem", lonely, common_name="x", organisation="x")
    with pytest.raises(SealingError, match="does not belong"):
        ensure_hub_certificate(other_keys.key_path, hub_keys.cert_path, common_name="x", organisation="x")


def test_replace_makes_a_new_key_and_certificate(tmp_path):
    keys = make_key_pair(tmp_path)
    before = certificate_fingerprint(keys.cert_path), keys.key_path.read_bytes()

    ensure_hub_certificate(keys.key_path, keys.cert_path, common_name="Hub", organisation="Hub", replace=True)

    assert certificate_fingerprint(keys.cert_path) != before[0]
    assert keys.key_path.read_bytes() != before[1]
    assert stat.S_IMODE(os.stat(keys.key_path).st_mode) == 0o600


def test_a_seal_after_the_key_was_replaced_uses_the_new_key(tmp_path):
    """The parsed key material is kept between seals, but a rewritten key or certificate is read again."""
    keys = make_key_pair(tmp_path)
    old_cert = tmp_path / "old-cert.pem"
    old_cert.write_bytes(keys.cert_path.read_bytes())
    assert verify_sealed_pdf(sealed(keys), cert_path=keys.cert_path).ok

    ensure_hub_certificate(keys.key_path, keys.cert_path, common_name="Hub", organisation="Hub", replace=True)
    again = sealed(keys)

    assert verify_sealed_pdf(again, cert_path=keys.cert_path).ok
    assert not verify_sealed_pdf(again, cert_path=old_cert).ok


# Sealing and verification ----------------------------------------------------------------


def test_a_sealed_pdf_verifies_as_intact(sealed_pdf, hub_keys):
    check = verify_sealed_pdf(sealed_pdf, cert_path=hub_keys.cert_path)

    assert check.ok and check.sealed and check.intact and check.covers_whole_file
    assert check.signed_by == "Plasticonnect Hub document seal"
    assert check.reason == REASON
    assert check.signed_at is not None
    assert abs(check.signed_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert check.summary.startswith("This is the document sealed by Plasticonnect Hub on ")
    assert check.summary.endswith("and it has not been changed.")
    assert check.signed_at.strftime("%B %Y") in check.summary


def test_the_seal_is_pades_in_the_hub_seal_field_and_keeps_the_original_bytes(sealed_pdf):
    assert sealed_pdf.startswith(unsealed_pdf())  # an incremental update: the signed bytes are untouched
    (signature,) = PdfFileReader(io.BytesIO(sealed_pdf)).embedded_signatures
    assert signature.field_name == "HubSeal"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"


def test_one_flipped_byte_in_the_signed_range_is_a_change(sealed_pdf, hub_keys):
    position = sealed_pdf.index(b"(Plasticonnect Hub)") + 1
    tampered = bytearray(sealed_pdf)
    tampered[position] ^= 0x20  # "P" -> "p": same length, still a well-formed PDF

    check = verify_sealed_pdf(bytes(tampered), cert_path=hub_keys.cert_path)

    assert check.sealed and not check.intact and not check.ok
    assert check.summary == SUMMARY_CHANGED


def test_bytes_appended_after_sealing_are_a_change(sealed_pdf, hub_keys):
    check = verify_sealed_pdf(sealed_pdf + b"\n% appended\n", cert_path=hub_keys.cert_path)

    assert check.sealed and check.intact and not check.covers_whole_file and not check.ok
    assert check.summary == SUMMARY_CHANGED


def test_an_incremental_update_adding_content_is_a_change(sealed_pdf, hub_keys):
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed_pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    note = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (50, 50, 80, 80)]),
            generic.NameObject("/Contents"): generic.TextStringObject("Amount is actually 1 EUR"),
        }
    )
    page[generic.NameObject("/Annots")] = generic.ArrayObject([writer.add_object(note)])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)

    check = verify_sealed_pdf(out.getvalue(), cert_path=hub_keys.cert_path)

    assert check.sealed and not check.covers_whole_file and not check.ok
    assert check.summary == SUMMARY_CHANGED


def test_a_signature_added_on_top_is_a_change_to_the_seal(sealed_pdf, hub_keys, other_keys):
    signer = signers.SimpleSigner.load(key_file=str(other_keys.key_path), cert_file=str(other_keys.cert_path))
    meta = signers.PdfSignatureMetadata(field_name="Countersignature", md_algorithm="sha256")
    resigned = signers.PdfSigner(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(sealed_pdf)))

    check = verify_sealed_pdf(resigned.getvalue(), cert_path=hub_keys.cert_path)

    assert check.sealed and not check.ok and check.summary == SUMMARY_CHANGED


def test_a_sealed_pdf_cannot_be_sealed_again(sealed_pdf, hub_keys):
    with pytest.raises(SealingError, match="filled already"):
        sealed(hub_keys, sealed_pdf)


def test_an_unsealed_pdf_is_not_sealed(hub_keys):
    check = verify_sealed_pdf(unsealed_pdf(), cert_path=hub_keys.cert_path)
    assert not check.sealed and not check.ok
    assert check.summary == SUMMARY_NOT_SEALED
    assert check.signed_at is None and check.signed_by == ""


def test_a_pdf_sealed_with_another_certificate_is_not_sealed_by_the_hub(hub_keys, other_keys):
    foreign = sealed(other_keys)
    assert verify_sealed_pdf(foreign, cert_path=other_keys.cert_path).ok  # fine for its own certificate

    check = verify_sealed_pdf(foreign, cert_path=hub_keys.cert_path)

    assert not check.sealed and not check.ok
    assert check.summary == SUMMARY_NOT_SEALED
    assert check.signed_by == ""  # the impostor's chosen name is not repeated


@pytest.mark.parametrize("garbage", [b"", b"hello", os.urandom(4096), b"\x89PNG\r\n\x1a\n" + os.urandom(200)])
def test_garbage_is_not_a_pdf(garbage, hub_keys):
    check = verify_sealed_pdf(garbage, cert_path=hub_keys.cert_path)
    assert not check.sealed and not check.ok
    assert check.summary == SUMMARY_NOT_PDF


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.95])
def test_a_damaged_pdf_is_reported_without_an_exception(cut, sealed_pdf, hub_keys):
    check = verify_sealed_pdf(sealed_pdf[: int(len(sealed_pdf) * cut)], cert_path=hub_keys.cert_path)
    assert not check.ok and check.summary


def test_seal_errors_are_sealing_errors(tmp_path, hub_keys):
    with pytest.raises(SealingError):
        seal_pdf(unsealed_pdf(), reason=REASON, key_path=tmp_path / "none.pem", cert_path=hub_keys.cert_path)
    with pytest.raises(SealingError):
        seal_pdf(b"not a pdf", reason=REASON, key_path=hub_keys.key_path, cert_path=hub_keys.cert_path)
    with pytest.raises(SealingError):
        verify_sealed_pdf(unsealed_pdf(), cert_path=tmp_path / "none.pem")
