"""The hub seal key and certificate, generated once per test session (RSA key generation is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from app.integrations.sealing import ensure_hub_certificate


@dataclass(frozen=True)
class KeyPair:
    key_path: Path
    cert_path: Path


def make_key_pair(folder: Path, *, common_name: str = "Plasticonnect Hub document seal") -> KeyPair:
    pair = KeyPair(folder / "seal-key.pem", folder / "seal-cert.pem")
    ensure_hub_certificate(pair.key_path, pair.cert_path, common_name=common_name, organisation="Plasticonnect Hub")
    return pair


@pytest.fixture(scope="session")
def hub_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("hub-seal"))


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A second, unrelated self-signed certificate that claims the same name."""
    return make_key_pair(tmp_path_factory.mktemp("other-seal"))
