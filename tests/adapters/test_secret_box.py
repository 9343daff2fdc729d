"""Signing secrets at rest: sealed in the database, readable only with the box."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.secret_box import FernetSecretBox, SecretBox
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.errors import StorageError
from tests.contract.builders import SECRET, integration


class ReversingBox:
    """A stand-in box (not encryption!) that proves the store seals and opens through it."""

    def seal(self, plaintext: bytes) -> bytes:
        return b"R" + plaintext[::-1]

    def open(self, sealed: bytes) -> bytes:
        if not sealed.startswith(b"R"):
            raise ValueError("not sealed by this box")
        return sealed[1:][::-1]


def _boxes() -> Iterator[object]:
    yield pytest.param(ReversingBox, id="any-box")
    yield pytest.param(
        lambda: FernetSecretBox(FernetSecretBox.new_key()),
        id="fernet",
        marks=pytest.mark.skipif(
            not _has_cryptography(), reason="needs the 'encryption' extra (cryptography)"
        ),
    )


def _has_cryptography() -> bool:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


def _raw_secrets(path: Path) -> str:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        text = conn.exec_driver_sql("SELECT secrets FROM acadio_integrations").scalar_one()
    engine.dispose()
    return str(text)


@pytest.mark.parametrize("make_box", list(_boxes()))
def test_sealed_secrets_round_trip_and_never_reach_the_file(tmp_path: Path, make_box) -> None:  # type: ignore[no-untyped-def]
    box = make_box()
    assert isinstance(box, SecretBox)
    path = tmp_path / "sealed.db"
    store = SqlStore(path, secret_box=box)
    made = integration()
    store.add_integration(made)
    assert store.get_integration(made.id) == made
    store.close()

    assert SECRET not in _raw_secrets(path)
    for file in tmp_path.iterdir():  # the database, its WAL and shared memory
        assert SECRET.encode() not in file.read_bytes()

    reopened = SqlStore(path, secret_box=box)
    try:
        assert reopened.get_integration(made.id).secrets == made.secrets
    finally:
        reopened.close()


def test_sealed_secrets_need_the_box(tmp_path: Path) -> None:
    path = tmp_path / "sealed.db"
    store = SqlStore(path, secret_box=ReversingBox())
    made = integration()
    store.add_integration(made)
    store.close()
    plain = SqlStore(path)
    try:
        with pytest.raises(StorageError, match="encrypted; open the store with the secret_box"):
            plain.get_integration(made.id)
    finally:
        plain.close()


def test_plain_secrets_stay_readable_after_adding_a_box(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    store = SqlStore(path)
    made = integration()
    store.add_integration(made)
    store.close()
    boxed = SqlStore(path, secret_box=ReversingBox())
    try:
        assert boxed.get_integration(made.id) == made
        boxed.update_integration(made)  # rewritten sealed
    finally:
        boxed.close()
    assert SECRET not in _raw_secrets(path)


@pytest.mark.skipif(not _has_cryptography(), reason="needs the 'encryption' extra (cryptography)")
def test_fernet_box_rotates_keys_and_refuses_strangers(tmp_path: Path) -> None:
    old_key, new_key = FernetSecretBox.new_key(), FernetSecretBox.new_key()
    path = tmp_path / "rotating.db"
    store = SqlStore(path, secret_box=FernetSecretBox(old_key))
    made = integration()
    store.add_integration(made)
    store.close()

    rotated = SqlStore(path, secret_box=FernetSecretBox(new_key, old_key))
    try:
        assert rotated.get_integration(made.id) == made
    finally:
        rotated.close()

    stranger = SqlStore(path, secret_box=FernetSecretBox(FernetSecretBox.new_key()))
    try:
        with pytest.raises(StorageError, match="do not open") as raised:
            stranger.get_integration(made.id)
        assert SECRET not in str(raised.value)
    finally:
        stranger.close()
    assert old_key not in repr(FernetSecretBox(old_key))


@pytest.mark.skipif(not _has_cryptography(), reason="needs the 'encryption' extra (cryptography)")
def test_fernet_box_refuses_a_malformed_key() -> None:
    with pytest.raises(ValueError, match="Fernet key"):
        FernetSecretBox("too-short")


def test_check_sealed_secrets_lists_sealed_integrations_and_whether_they_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.db"
    plain_store = SqlStore(path)
    plain = integration()
    plain_store.add_integration(plain)
    plain_store.close()
    boxed = SqlStore(path, secret_box=ReversingBox())
    sealed = integration()
    boxed.add_integration(sealed)
    try:
        assert boxed.check_sealed_secrets() == {sealed.id: True}  # plain rows need no key
    finally:
        boxed.close()

    class StrangerBox(ReversingBox):
        def open(self, sealed: bytes) -> bytes:
            raise ValueError("not sealed by this box")

    for store in (SqlStore(path), SqlStore(path, secret_box=StrangerBox())):
        try:
            assert store.check_sealed_secrets() == {sealed.id: False}
        finally:
            store.close()
