"""HubSpot tokens at rest: Fernet-encrypted, the key from settings or a 0600 key file."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class TokenCipher:
    """Encrypts with the first key and decrypts with any (MultiFernet), so keys can be rotated."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, key: SecretStr | None, data_dir: Path) -> TokenCipher:
        if key is not None:
            return cls([k.strip().encode() for k in key.get_secret_value().split(",") if k.strip()])
        return cls([key_file(data_dir / "token.key")])

    def encrypt(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def rotate(self, blob: bytes) -> bytes:
        """The same token, encrypted with the first key (whichever key encrypted it)."""
        try:
            return self._fernet.rotate(blob)
        except InvalidToken:
            raise ValueError(
                "a stored HubSpot token cannot be decrypted with the configured keys"
            ) from None

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._fernet.decrypt(blob).decode()
        except InvalidToken:
            raise ValueError(
                "the stored HubSpot token cannot be decrypted with the configured keys"
            ) from None

    def __repr__(self) -> str:
        return "TokenCipher(keys=[redacted])"


def key_file(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600, created atomically) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
