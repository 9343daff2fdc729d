"""Encryption of signing secrets at rest, so a database dump alone does not reveal them.

A store given a :class:`SecretBox` seals each integration's secrets before writing them and
opens them after reading. :class:`FernetSecretBox` is the ready-made one (AES-128-CBC with
HMAC-SHA256, from the ``cryptography`` package: ``pip install acadio-webhooks[encryption]``).
Keep its key outside the database (an environment variable, a secrets manager).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["SecretBox", "FernetSecretBox"]


@runtime_checkable
class SecretBox(Protocol):
    """Authenticated encryption of small byte strings.

    ``open`` must raise ``ValueError`` for anything ``seal`` did not produce with a current
    key, and neither method may put the plaintext or the key into an exception message.
    """

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``."""
        ...

    def open(self, sealed: bytes) -> bytes:
        """Check and decrypt what :meth:`seal` returned."""
        ...


class FernetSecretBox:
    """A :class:`SecretBox` over Fernet keys; the first key seals, every key opens.

    Rotate by putting a new key first and keeping the old ones until every integration has
    been written again (``update_integration``)::

        box = FernetSecretBox(os.environ["ACADIO_SECRET_KEY"])
        store = SqlStore("sqlite:///webhooks.db", secret_box=box)
    """

    def __init__(self, *keys: str | bytes) -> None:
        if not keys:
            raise ValueError("FernetSecretBox needs at least one key (FernetSecretBox.new_key())")
        fernet = _fernet_module()
        try:
            self._fernet: Any = fernet.MultiFernet([fernet.Fernet(key) for key in keys])
        except (ValueError, TypeError) as exc:
            raise ValueError("a Fernet key must be 32 url-safe base64-encoded bytes") from exc
        self._invalid_token: type[Exception] = fernet.InvalidToken
        self._key_count = len(keys)

    @staticmethod
    def new_key() -> str:
        """A fresh random key, as text to put into configuration."""
        key: bytes = _fernet_module().Fernet.generate_key()
        return key.decode("ascii")

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` with the first key."""
        token: bytes = self._fernet.encrypt(plaintext)
        return token

    def open(self, sealed: bytes) -> bytes:
        """Decrypt with whichever key sealed it; ``ValueError`` if none did."""
        try:
            plaintext: bytes = self._fernet.decrypt(sealed)
        except self._invalid_token:
            raise ValueError("sealed secret does not open with any configured key") from None
        return plaintext

    def __repr__(self) -> str:
        return f"FernetSecretBox(keys={self._key_count})"


def _fernet_module() -> Any:
    try:
        from cryptography import fernet  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "FernetSecretBox needs the 'cryptography' package: "
            "pip install 'acadio-webhooks[encryption]'"
        ) from exc
    return fernet
