"""Storage backends: the local disk, and S3 through boto3 against moto's server on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.integrations.storage import (
    BlobNotFound,
    LocalStorage,
    S3Storage,
    StorageConfigError,
    build_storage,
    check_key,
    get_storage,
)
from app.models import DocumentKind, VerificationStatus
from app.services import companies, uploads
from tests import factories
from tests.conftest import login, make_app


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "A/b", "a//b", "a/b/", "a b", "a/.hidden", ""])
def test_bad_keys_are_refused(key):
    with pytest.raises(ValueError):
        check_key(key)


def test_local_storage_round_trip(tmp_path):
    storage = LocalStorage(tmp_path / "uploads")
    storage.put("companies/1/kyc/abc123", b"hello", content_type="application/pdf")
    assert storage.exists("companies/1/kyc/abc123")
    assert storage.get("companies/1/kyc/abc123") == b"hello"
    path = tmp_path / "uploads" / "companies" / "1" / "kyc" / "abc123"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".upload-")]  # no temp files left
    storage.delete("companies/1/kyc/abc123")
    storage.delete("companies/1/kyc/abc123")  # idempotent
    assert not storage.exists("companies/1/kyc/abc123")
    with pytest.raises(BlobNotFound):
        storage.get("companies/1/kyc/abc123")


def test_local_storage_refuses_a_static_folder(storage_dir):
    app = make_app(storage_dir)
    app.config["STORAGE_LOCAL_PATH"] = str(Path(app.static_folder) / "uploads")
    with pytest.raises(StorageConfigError, match="static folder"):
        build_storage(app)


def test_unknown_backend_and_missing_bucket_are_refused(storage_dir):
    app = make_app(storage_dir)
    app.config["STORAGE_BACKEND"] = "ftp"
    with pytest.raises(StorageConfigError, match="local' or 's3"):
        build_storage(app)
    app.config["STORAGE_BACKEND"] = "s3"
    app.config["STORAGE_S3_BUCKET"] = ""
    os.environ.pop("STORAGE_S3_BUCKET", None)
    with pytest.raises(StorageConfigError, match="STORAGE_S3_BUCKET"):
        build_storage(app)


def test_default_is_local_storage_in_the_configured_folder(app, storage_dir):
    storage = get_storage()
    assert isinstance(storage, LocalStorage)
    assert storage.root == Path(storage_dir).resolve()
    assert get_storage() is storage


# S3 against moto -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed (requirements-dev)")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch) -> Iterator[dict[str, str]]:
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    bucket = f"hub-test-{os.getpid()}-{os.urandom(3).hex()}"
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-central-1")
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    yield {"bucket": bucket, "endpoint": moto_endpoint, "client": client}


def test_s3_storage_round_trip(s3_env):
    storage = S3Storage(s3_env["bucket"], endpoint_url=s3_env["endpoint"], region="eu-central-1")
    key = "companies/7/kyc/0123abcd"
    assert not storage.exists(key)
    storage.put(key, b"%PDF-1.4 test", content_type="application/pdf")
    assert storage.exists(key)
    assert storage.get(key) == b"%PDF-1.4 test"
    head = s3_env["client"].head_object(Bucket=s3_env["bucket"], Key=key)
    assert head["ContentType"] == "application/pdf"
    assert head["ServerSideEncryption"] == "AES256"
    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(BlobNotFound):
        storage.get(key)
    with pytest.raises(ValueError):
        storage.put("../escape", b"x", content_type="application/pdf")


def test_app_uploads_and_serves_documents_from_s3(app, s3_env, storage_dir):
    app.config.update(
        STORAGE_BACKEND="s3",
        STORAGE_S3_BUCKET=s3_env["bucket"],
        STORAGE_S3_ENDPOINT_URL=s3_env["endpoint"],
        STORAGE_S3_REGION="eu-central-1",
    )
    app.extensions.pop("hub_storage", None)  # built lazily from the settings above
    assert isinstance(get_storage(), S3Storage)
    company = factories.company(status=VerificationStatus.DRAFT)
    owner = factories.company_user(company)
    doc = companies.add_company_document(
        company.id,
        actor=owner,
        kind=DocumentKind.REGISTRATION_CERTIFICATE,
        upload=uploads.Upload("register.pdf", factories.pdf_bytes(metadata={"/Author": "CANARY"})),
    )
    stored = s3_env["client"].get_object(Bucket=s3_env["bucket"], Key=doc.storage_key)["Body"].read()
    assert stored.startswith(b"%PDF-") and b"CANARY" not in stored
    assert not [p for p in Path(storage_dir).rglob("*") if p.is_file()]  # nothing on the local disk
    client = login(app.test_client(), owner)
    response = client.get(f"/files/{doc.id}")
    assert response.status_code == 200
    assert response.data == stored
