"""The checks :func:`~acadio_webhooks.domain.verification.verify` makes on a request's headers:
the header table it reads, the timestamp and its window, and the signatures compared in
constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from acadio_webhooks.domain.signing import (
    HMAC_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_VERSION,
    TIMESTAMP_HEADER,
    TOPIC_HEADER,
)
from acadio_webhooks.errors import (
    FutureTimestamp,
    MalformedHeader,
    MissingHeader,
    StaleTimestamp,
)

__all__ = [
    "STANDARD_HEADERS",
    "HeaderTable",
    "parse_timestamp",
    "check_window",
    "standard_candidates",
    "documented_digest",
    "hmac_of",
    "any_match",
]

STANDARD_HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
_WANTED = frozenset(name.lower() for name in (*STANDARD_HEADERS, HMAC_HEADER, TOPIC_HEADER))
_DIGEST_SIZE = hashlib.sha256().digest_size
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class HeaderTable:
    """The headers verify() reads, looked up case-insensitively, values as stripped ASCII."""

    def __init__(self, values: dict[str, list[object]]) -> None:
        self._values = values

    @classmethod
    def read(cls, headers: object) -> HeaderTable:
        items = getattr(headers, "items", None)
        if not callable(items):
            raise MalformedHeader(
                f"headers must be a mapping of names to values, not {type(headers).__name__}"
            )
        values: dict[str, list[object]] = {}
        try:
            for name, value in items():
                text = name.decode("latin-1") if isinstance(name, bytes) else name
                if isinstance(text, str) and text.lower() in _WANTED:
                    values.setdefault(text.lower(), []).append(value)
        except Exception as exc:
            # Header objects come from every framework there is; whatever breaks while reading
            # them, the caller was promised a VerificationError.
            raise MalformedHeader(f"the headers could not be read ({type(exc).__name__})") from exc
        return cls(values)

    def has(self, name: str) -> bool:
        return name.lower() in self._values

    def optional(self, name: str) -> str | None:
        raw_values = self._values.get(name.lower())
        if raw_values is None:
            return None
        texts = {self._text(name, value) for value in raw_values}
        if len(texts) > 1:
            raise MalformedHeader(f"{name} appears more than once with different values")
        (text,) = texts
        if not text:
            raise MalformedHeader(f"{name} is empty")
        return text

    def required(self, *names: str, hint: bool = False) -> list[str]:
        missing = [name for name in names if not self.has(name)]
        if missing:
            message = f"missing header{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            if set(missing) == set(STANDARD_HEADERS) and self.has(HMAC_HEADER):
                message += (
                    f": the request carries only {HMAC_HEADER}; verify(..., "
                    "require_timestamp=False) accepts that, without replay protection"
                )
            elif hint:
                message += " (Standard Webhooks headers, once present, must all be present)"
            raise MissingHeader(message)
        return [text for name in names if (text := self.optional(name)) is not None]

    @staticmethod
    def _text(name: str, value: object) -> str:
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str):
            raise MalformedHeader(f"{name} must be text, not {type(value).__name__}")
        if not value.isascii():
            raise MalformedHeader(f"{name} contains non-ASCII characters")
        return value.strip(" \t")


def parse_timestamp(text: str) -> int:
    if not _TIMESTAMP.fullmatch(text):
        raise MalformedHeader(f"{TIMESTAMP_HEADER} must be whole unix seconds (digits only)")
    return int(text)


def check_window(timestamp: int, current: float, window: float) -> None:
    if timestamp < current - window:
        raise StaleTimestamp(
            f"{TIMESTAMP_HEADER} is {current - timestamp:.0f} s old, over the tolerance of "
            f"{window:g} s (a replay, or the receiver's clock is wrong)"
        )
    if timestamp > current + window:
        raise FutureTimestamp(
            f"{TIMESTAMP_HEADER} is {timestamp - current:.0f} s ahead, over the tolerance of "
            f"{window:g} s (the sender's or the receiver's clock is wrong)"
        )


def _decode_base64_digest(text: str) -> bytes | None:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == _DIGEST_SIZE else None


def standard_candidates(header: str) -> list[bytes]:
    candidates = []
    for entry in header.split():
        version, comma, encoded = entry.partition(",")
        if not comma:
            raise MalformedHeader(f"{SIGNATURE_HEADER} entries must look like v1,<base64>")
        decoded = _decode_base64_digest(encoded) if version == SIGNATURE_VERSION else None
        if decoded is not None:
            candidates.append(decoded)
    if not candidates:
        raise MalformedHeader(
            f"{SIGNATURE_HEADER} has no {SIGNATURE_VERSION} signature "
            "(v1, followed by the base64 of a 32-byte HMAC-SHA256)"
        )
    return candidates


def documented_digest(header: str) -> bytes:
    if header[:7].lower() == "sha256=":
        header = header[7:]
        if _HEX_DIGEST.fullmatch(header):
            return bytes.fromhex(header)
    elif _HEX_DIGEST.fullmatch(header):
        return bytes.fromhex(header)
    else:
        decoded = _decode_base64_digest(header)
        if decoded is not None:
            return decoded
    raise MalformedHeader(
        f"{HMAC_HEADER} must be the base64, hex or sha256=<hex> of a 32-byte HMAC-SHA256"
    )


def hmac_of(key: bytes, prefix: bytes, body: bytes) -> bytes:
    mac = hmac.new(key, prefix, hashlib.sha256)
    mac.update(body)
    return mac.digest()


def any_match(expected: list[bytes], candidates: list[bytes]) -> bool:
    # Every pair is compared, in constant time each, so timing reveals neither which secret
    # nor which signature matched.
    matched = False
    for mine in expected:
        for theirs in candidates:
            matched |= hmac.compare_digest(mine, theirs)
    return matched
