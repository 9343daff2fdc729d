"""CSRF protection for the HTML forms: a signed double-submit token.

* Every page the portal renders makes sure the browser holds a random nonce in the cookie
  ``acadio_portal_csrf`` (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over https, scoped
  to the portal's path).
* Every form carries ``csrf_token = base64url(HMAC-SHA256(csrf_secret, tenant "\\n" nonce))``
  in a hidden field.
* A state-changing form POST is accepted only when the cookie's nonce and the field agree
  under that HMAC for the tenant the host's ``tenant_of`` returns; otherwise 403.

A cross-site page can make the browser send the cookie (were ``SameSite`` not honoured) but
can read neither it nor the page, so it cannot produce the field; an attacker who can plant a
cookie (a sibling sub-domain) still cannot compute the HMAC without ``csrf_secret``, and a
token minted for one tenant is worthless for another. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from acadio_webhooks.errors import InvalidInput

__all__ = ["COOKIE_NAME", "FIELD_NAME", "CsrfSigner"]

COOKIE_NAME = "acadio_portal_csrf"
FIELD_NAME = "csrf_token"
MIN_SECRET_BYTES = 16
_NONCE_BYTES = 32


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class CsrfSigner:
    """Mints nonces and the tokens that go with them, and checks submitted pairs."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(key) < MIN_SECRET_BYTES:
            raise InvalidInput(
                "portal settings",
                {"csrf_secret": f"must be at least {MIN_SECRET_BYTES} bytes of random data"},
            )
        self._key = key

    @staticmethod
    def new_nonce() -> str:
        """A fresh random nonce for the cookie."""
        return secrets.token_urlsafe(_NONCE_BYTES)

    @staticmethod
    def usable_nonce(nonce: str | None) -> bool:
        """Whether a cookie value looks like a nonce this signer minted."""
        return nonce is not None and 32 <= len(nonce) <= 64 and nonce.isascii()

    def token(self, tenant: str, nonce: str) -> str:
        """The form field value that goes with ``nonce`` for ``tenant``."""
        message = tenant.encode("utf-8") + b"\n" + nonce.encode("ascii")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def valid(self, tenant: str, nonce: str | None, token: str | None) -> bool:
        """Whether a submitted cookie nonce and form token agree for ``tenant``."""
        if nonce is None or not token or not self.usable_nonce(nonce) or not token.isascii():
            return False
        return hmac.compare_digest(self.token(tenant, nonce), token)
