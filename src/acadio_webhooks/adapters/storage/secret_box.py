"""Encryption of signing secrets at rest, so a database dump alone does not reveal them.

A store given a :class:`SecretBox` seals each integration's secrets before writing them and
opens them after reading. :class:`FernetSecretBox` is the ready-made one (AES-128-CBC with
HMAC-SHA256, from the ``cryptography`` package: ``pip install acadio-webhooks[encryption]``).
Keep its key outside the database (an environment variable, a secrets manager).
"""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

__all__ = ["SecretBox", "FernetSecretBox", "SECRET_KEY_ENV", "secret_box_from_env"]

SECRET_KEY_ENV = "ACADIO_WEBHOOKS_SECRET_KEY"  # noqa: S105 - a variable name, not a key
"""Fernet key(s) sealing signing secrets at rest, comma-separated during a rotation (newest
first), read by the command line and the Django app. An environment variable only: a
command-line argument would show in ``ps``."""


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


def secret_box_from_env() -> FernetSecretBox | None:
    """A ``FernetSecretBox`` of the keys in ``$ACADIO_WEBHOOKS_SECRET_KEY``, None when unset.

    ``ValueError`` for an empty or malformed key, ``ImportError`` without ``cryptography``;
    their messages name the variable and which key is wrong, never a key.
    """
    raw = os.environ.get(SECRET_KEY_ENV)
    if raw is None:
        return None
    keys = [key.strip() for key in raw.split(",")]
    if not all(keys):
        raise ValueError(
            f"{SECRET_KEY_ENV} is set but holds an empty key: give one Fernet key, or several "
            "separated by commas (newest first), or unset it"
        )
    try:
        return FernetSecretBox(*keys)
    except ImportError as exc:
        raise ImportError(f"{SECRET_KEY_ENV} is set, but {exc}") from None
    except ValueError:
        wrong = next(n for n, key in enumerate(keys, start=1) if not _is_fernet_key(key))
        raise ValueError(
            f"{SECRET_KEY_ENV}: key {wrong} of {len(keys)} is not a Fernet key "
            "(32 url-safe base64-encoded bytes, as FernetSecretBox.new_key() makes)"
        ) from None


def _is_fernet_key(key: str) -> bool:
    try:
        FernetSecretBox(key)
    except ValueError:
        return False
    return True


def _fernet_module() -> Any:
    try:
        from cryptography import fernet  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "FernetSecretBox needs the 'cryptography' package: "
            "pip install 'acadio-webhooks[encryption]'"
        ) from exc
    return fernet
