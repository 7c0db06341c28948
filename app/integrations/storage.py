"""Where uploaded files live: the local disk (embedded default) or an S3 bucket.

Both backends store opaque bytes under a key that the caller makes random
(``companies/12/kyc/<uuid>``); they know nothing about documents or users.
Files are never served from here directly: every read goes through an
authorised view. The local folder must lie outside any static folder.

Settings: ``STORAGE_BACKEND`` (``local`` or ``s3``), ``STORAGE_LOCAL_PATH``;
for S3 ``STORAGE_S3_BUCKET``, ``STORAGE_S3_ENDPOINT_URL`` (a MinIO/moto/other
S3-compatible server; empty for AWS), ``STORAGE_S3_REGION``. S3 credentials
come from the usual AWS sources (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
environment variables, a profile, or an instance role).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app

logger = logging.getLogger(__name__)

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*$")
_EXTENSION_KEY = "hub_storage"


class StorageError(RuntimeError):
    """The storage backend failed (disk full, bucket unreachable...)."""


class BlobNotFound(StorageError):
    """No file is stored under this key."""


class StorageConfigError(RuntimeError):
    """The storage settings cannot work."""


class Storage(Protocol):
    """The interface every backend implements."""

    name: str

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing nothing: keys are random)."""

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; raises :class:`BlobNotFound`."""

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root (only lowercase, digits, ``-_/``)."""
    if not _KEY_RE.fullmatch(key) or len(key) > 128:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """Files in a private folder on the local disk (owner-only permissions)."""

    name = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return path

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write atomically: a temporary file in the same folder, fsync, rename."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"could not write {key}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """Read the whole file."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise StorageError(f"could not read {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Remove the file if it is there."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"could not delete {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Whether the file is there."""
        return self._path(key).is_file()


class S3Storage:
    """Objects in a private S3 bucket, encrypted at rest (SSE-S3)."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise StorageConfigError("STORAGE_S3_BUCKET must be set when STORAGE_BACKEND=s3")
        self.bucket = bucket
        if client is None:
            boto3 = importlib.import_module("boto3")
            botocore_config = importlib.import_module("botocore.config")
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=region or None,
                config=botocore_config.Config(
                    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30
                ),
            )
        self.client = client
        self._client_error: type[Exception] = importlib.import_module("botocore.exceptions").ClientError
        self._boto_error: type[Exception] = importlib.import_module("botocore.exceptions").BotoCoreError

    def _code(self, exc: Exception) -> str:
        response = getattr(exc, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Upload with server-side encryption."""
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=check_key(key),
                Body=data,
                ContentType=content_type,
                ServerSideEncryption="AES256",
            )
        except (self._client_error, self._boto_error) as exc:
            raise StorageError(f"could not store {key}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """Download the whole object."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
            return bytes(response["Body"].read())
        except self._client_error as exc:
            if self._code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise BlobNotFound(key) from exc
            raise StorageError(f"could not read {key}: {exc}") from exc
        except self._boto_error as exc:
            raise StorageError(f"could not read {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Delete the object (S3 does not mind a missing key)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=check_key(key))
        except (self._client_error, self._boto_error) as exc:
            raise StorageError(f"could not delete {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except self._client_error as exc:
            if self._code(exc) in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise StorageError(f"could not check {key}: {exc}") from exc
        return True


def _setting(app: Flask, name: str) -> str:
    return str(app.config.get(name) or os.environ.get(name) or "")


def build_storage(app: Flask) -> Storage:
    """The backend the app's settings ask for.

    :raises StorageConfigError: unknown backend, missing bucket, or a local
        folder inside a static folder (files would be public).
    """
    backend = (_setting(app, "STORAGE_BACKEND") or "local").lower()
    if backend == "local":
        root = Path(_setting(app, "STORAGE_LOCAL_PATH") or Path(app.instance_path) / "uploads").resolve()
        for static in _static_folders(app):
            if root == static or static in root.parents:
                raise StorageConfigError(f"STORAGE_LOCAL_PATH ({root}) must not be inside a static folder ({static})")
        return LocalStorage(root)
    if backend == "s3":
        return S3Storage(
            _setting(app, "STORAGE_S3_BUCKET"),
            endpoint_url=_setting(app, "STORAGE_S3_ENDPOINT_URL") or None,
            region=_setting(app, "STORAGE_S3_REGION") or None,
        )
    raise StorageConfigError(f"STORAGE_BACKEND must be 'local' or 's3', not {backend!r}")


def _static_folders(app: Flask) -> list[Path]:
    folders = [app.static_folder] + [bp.static_folder for bp in app.blueprints.values()]
    return [Path(folder).resolve() for folder in folders if folder]


def get_storage() -> Storage:
    """The current app's storage backend (built once per app)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    storage = app.extensions.get(_EXTENSION_KEY)
    if storage is None:
        storage = app.extensions[_EXTENSION_KEY] = build_storage(app)
    return storage
