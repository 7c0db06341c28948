"""The hub's document seal: a PAdES B-B signature over each final PDF, made with pyHanko.

The seal proves that a PDF is the one Plasticonnect Hub produced and that it has
not changed since: it is the hub's signature, not a party's. The parties sign
in the app (click-wrap, recorded in the certificate of completion); the hub
then seals the whole file once.

The key and the self-signed certificate live in two PEM files
(``HUB_SIGNING_KEY_PATH``, ``HUB_SIGNING_CERT_PATH``; by default in the instance
folder), made once with ``flask create-hub-certificate``. Because the
certificate is self-signed, PDF viewers show "validity unknown" unless the
reader trusts it; our own verification page trusts exactly this certificate.

Verification is strict on purpose: a sealed PDF counts as unchanged only when
the signature is cryptographically valid *and* covers every byte of the file.
Anything appended afterwards (an incremental update, a second signature, stray
bytes) makes the file "changed".
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_cert_from_pemder
from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1, translate_pyca_cryptography_key_to_asn1
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

logger = logging.getLogger(__name__)

HUB_NAME = "Plasticonnect Hub"
SEAL_FIELD = "HubSeal"
KEY_BITS = 3072

SUMMARY_INTACT = "This is the document sealed by Plasticonnect Hub on {when} and it has not been changed."
SUMMARY_CHANGED = "This PDF was changed after it was sealed."
SUMMARY_NOT_SEALED = "This PDF carries no seal of Plasticonnect Hub."
SUMMARY_NOT_PDF = "This file is not a PDF document."
SUMMARY_UNREADABLE = "This PDF is damaged or cannot be read, so its seal cannot be checked."


class SealingError(RuntimeError):
    """The seal could not be made (missing or unreadable key material...)."""


@dataclass(frozen=True)
class SealCheck:
    """What the verification page tells about an uploaded PDF.

    ``sealed``: a signature made with the hub's certificate is present.
    ``intact``: that signature is cryptographically valid over the bytes it covers.
    ``covers_whole_file``: nothing was added after the seal.
    Only all three together mean "the sealed, unchanged document" (:attr:`ok`).
    """

    sealed: bool
    intact: bool
    signed_by: str
    signed_at: dt.datetime | None
    covers_whole_file: bool
    reason: str
    summary: str

    @property
    def ok(self) -> bool:
        """The sealed, unchanged document."""
        return self.sealed and self.intact and self.covers_whole_file


# Key and certificate ---------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write to a temporary file in the same folder, fsync, chmod, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.chmod(tmp, 0o600)  # never readable by others, not even for a moment
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_private_key(key_path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealingError(f"{key_path} does not hold an RSA private key")
    return key


class _HubSigner(signers.SimpleSigner):
    """pyHanko's in-memory signer, with the key parsed once.

    ``SimpleSigner.sign_raw`` parses the key again (with its full RSA consistency check, about
    0.15 s) for every signature; this one signs with the key object it was given.
    """

    def __init__(self, key: rsa.RSAPrivateKey, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algorithm = mechanism.signature_algo
        except ValueError:
            algorithm = mechanism["algorithm"].native
        if algorithm == "rsassa_pkcs1v15":
            return bytes(self._key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm)))
        return bytes(super().sign_raw(data, digest_algorithm))


_SIGNERS: dict[tuple[tuple[str, int, int], ...], _HubSigner] = {}
_SIGNERS_LOCK = threading.Lock()
_SIGNERS_KEPT = 8


def _file_version(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _signer(key_file: Path, cert_file: Path) -> _HubSigner:
    """The signer of the key and certificate, read and checked once per version of the two files.

    Parsing an RSA key checks it (about 0.15 s); a seal used to pay that three times.
    A rewritten file (new key, new certificate) has a new version and is read again.

    :raises SealingError: the certificate does not belong to the key.
    :raises OSError, ValueError: a file is missing or unreadable.
    """
    version = (_file_version(key_file), _file_version(cert_file))
    with _SIGNERS_LOCK:
        found = _SIGNERS.get(version)
    if found is not None:
        return found
    key = _load_private_key(key_file)
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    if _spki(cert.public_key()) != _spki(key.public_key()):
        raise SealingError(f"the certificate {cert_file} does not belong to the key {key_file}")
    signer = _HubSigner(key, signing_cert=translate_pyca_cryptography_cert_to_asn1(cert),
                        signing_key=translate_pyca_cryptography_key_to_asn1(key),
                        cert_registry=SimpleCertificateStore())
    with _SIGNERS_LOCK:
        if len(_SIGNERS) >= _SIGNERS_KEPT:
            _SIGNERS.clear()
        _SIGNERS[version] = signer
    return signer


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _self_signed_certificate(
    key: rsa.RSAPrivateKey, *, common_name: str, organisation: str, days: int
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock differences
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # a.k.a. nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def ensure_hub_certificate(
    key_path: str | os.PathLike[str],
    cert_path: str | os.PathLike[str],
    *,
    common_name: str,
    organisation: str,
    days: int = 3650,
    replace: bool = False,
) -> None:
    """Make the hub's RSA-3072 key and self-signed seal certificate when they are missing.

    Nothing happens when both files exist (and belong together). A key without
    a certificate gets a new certificate for that key. ``replace=True`` makes a
    new key and certificate even when they exist: PDFs sealed with the old
    certificate then no longer verify as sealed by the hub, so keep the old
    certificate if such PDFs exist. The key file is written owner-only (0600).

    :raises SealingError: a certificate without its key, or files that do not belong together.
    """
    key_file, cert_file = Path(key_path), Path(cert_path)
    if not replace and key_file.exists() and cert_file.exists():
        _signer(key_file, cert_file)  # raises when they do not belong together
        return
    if not replace and cert_file.exists():
        raise SealingError(f"the certificate {cert_file} exists but its key {key_file} is missing")
    if not replace and key_file.exists():
        key = _load_private_key(key_file)
        logger.info("Hub seal key found at %s; making a new certificate for it", key_file)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_atomically(key_file, pem, mode=0o600)
    cert = _self_signed_certificate(key, common_name=common_name, organisation=organisation, days=days)
    _write_atomically(cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    logger.info("Hub seal certificate written to %s (key %s)", cert_file, key_file)


def certificate_fingerprint(cert_path: str | os.PathLike[str]) -> str:
    """The certificate's SHA-256 fingerprint as colon-separated upper-case hex (``AB:CD:...``)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


# Sealing ---------------------------------------------------------------------------------


def seal_pdf(
    pdf: bytes,
    *,
    reason: str,
    location: str = HUB_NAME,
    key_path: str | os.PathLike[str],
    cert_path: str | os.PathLike[str],
) -> bytes:
    """Seal ``pdf`` with the hub's key: a PAdES B-B signature in an invisible field ``HubSeal``.

    The signature is appended as an incremental update, so the original bytes
    stay unchanged in front of it.

    :raises SealingError: the key or certificate cannot be loaded, or ``pdf`` cannot be signed.
    """
    try:
        signer = _signer(Path(key_path), Path(cert_path))
    except (OSError, ValueError, TypeError) as exc:
        raise SealingError(f"could not load the hub seal key {key_path} or certificate {cert_path}: {exc}") from exc
    meta = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        reason=reason,
        location=location,
        name=HUB_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
    )
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        output = signers.PdfSigner(meta, signer=signer).sign_pdf(writer)
    except Exception as exc:  # pyHanko raises many types for unreadable input
        raise SealingError(f"could not seal the PDF: {exc}") from exc
    return bytes(output.getvalue())


# Verification ----------------------------------------------------------------------------


def _common_name(cert: Any) -> str:
    """The subject's common name of an asn1crypto certificate (pyHanko's type)."""
    names = cert.subject.native
    return str(names.get("common_name") or names.get("organization_name") or cert.subject.human_friendly)


def _format_when(when: dt.datetime | None) -> str:
    if when is None:
        return "an unknown date"
    when = when.astimezone(dt.UTC)
    return f"{when.day} {when:%B %Y} at {when:%H:%M} UTC"


def _reason(sig: EmbeddedPdfSignature) -> str:
    value = sig.sig_object.get("/Reason")
    return str(value) if value is not None else ""


def _not_sealed(summary: str = SUMMARY_NOT_SEALED) -> SealCheck:
    return SealCheck(
        sealed=False,
        intact=False,
        signed_by="",
        signed_at=None,
        covers_whole_file=False,
        reason="",
        summary=summary,
    )


def _looks_like_pdf(data: bytes) -> bool:
    # The header may follow up to 1 KiB of junk (ISO 32000-1, 7.5.2 implementation note).
    return b"%PDF-" in data[:1024]


def verify_sealed_pdf(pdf: bytes, *, cert_path: str | os.PathLike[str]) -> SealCheck:
    """Tell whether ``pdf`` is a document sealed by the hub and unchanged since.

    The hub certificate at ``cert_path`` is the only trust root. Never raises
    for bad input: garbage, unsigned PDFs, PDFs signed by someone else and
    damaged files each come back as a :class:`SealCheck` with a summary for people.

    :raises SealingError: only when the hub certificate itself cannot be read.
    """
    try:
        hub_cert = load_cert_from_pemder(str(cert_path))
    except (OSError, ValueError) as exc:
        raise SealingError(f"could not read the hub certificate {cert_path}: {exc}") from exc
    if not _looks_like_pdf(pdf):
        return _not_sealed(SUMMARY_NOT_PDF)
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception:  # any parse failure means "cannot be read"; never leak it to the caller
        logger.info("Uploaded PDF could not be parsed", exc_info=True)
        return _not_sealed(SUMMARY_UNREADABLE)

    ours: EmbeddedPdfSignature | None = None
    for sig in signatures:
        try:
            cert = sig.signer_cert
        except Exception:  # a damaged CMS blob: not a usable seal
            logger.info("Signature %s could not be read", sig.field_name, exc_info=True)
            continue
        if cert.sha256 == hub_cert.sha256:
            ours = sig
            break
    if ours is None:
        # Someone else's signature says nothing about the hub; its subject name (which anyone can
        # choose, "Plasticonnect Hub" included) is deliberately not reported.
        return _not_sealed()

    signed_at = ours.self_reported_timestamp
    try:
        # Validate at the seal time: the certificate may have expired since, which does not
        # make an old seal any less the hub's. Only this certificate is trusted; nothing is fetched.
        context = ValidationContext(
            trust_roots=[hub_cert], moment=signed_at, allow_fetching=False, revocation_mode="soft-fail"
        )
        # No diff analysis: anything after the seal already counts as a change (coverage below),
        # and pyHanko would only log a traceback for the 'suspicious' update.
        status = validate_pdf_signature(ours, context, skip_diff=True)
    except Exception:
        logger.info("Hub seal could not be validated", exc_info=True)
        return SealCheck(
            sealed=True,
            intact=False,
            signed_by=_common_name(hub_cert),
            signed_at=signed_at,
            covers_whole_file=False,
            reason=_reason(ours),
            summary=SUMMARY_CHANGED,
        )
    intact = bool(status.intact and status.valid and status.trusted)
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    signed_at = status.signer_reported_dt or signed_at
    summary = SUMMARY_INTACT.format(when=_format_when(signed_at)) if intact and whole else SUMMARY_CHANGED
    return SealCheck(
        sealed=True,
        intact=intact,
        signed_by=_common_name(status.signing_cert),
        signed_at=signed_at,
        covers_whole_file=whole,
        reason=_reason(ours),
        summary=summary,
    )
