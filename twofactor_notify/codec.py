"""Codecs for 2Factor's encrypted endpoints (``/API/R1/?module=ENC&encmode=GCM|CBC``).

The reference says the payload is AES-256 encrypted in GCM or CBC mode and Base64-encoded,
but does not publish the byte framing (where the nonce / IV goes, whether the tag is
appended, how the secret key becomes an AES key). So the framing sits behind the small
:class:`EncryptionCodec` interface, and a user whose account uses another scheme passes their
own codec to the client.

The documented default, :class:`AESCodec`:

* AES key: the secret key's UTF-8 bytes when they are exactly 32 bytes long; a 64-character
  hex string is decoded; anything else goes through SHA-256 (giving 32 bytes).
* GCM: ``base64( nonce[12] || ciphertext || tag[16] )``, no associated data.
* CBC: ``base64( iv[16] || ciphertext )`` with PKCS#7 padding. CBC carries no integrity
  check, so a decrypted answer must also be UTF-8 text (a wrong key yields garbage).
* Responses are framed the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Literal, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .credentials import Secret
from .errors import ConfigurationError, DecryptionError

__all__ = ["AESCodec", "EncryptionCodec", "EncryptionMode", "derive_key"]

EncryptionMode = Literal["GCM", "CBC"]


@runtime_checkable
class EncryptionCodec(Protocol):
    """Turns a plaintext JSON body into the text 2Factor expects, and an answer back."""

    mode: EncryptionMode

    def encrypt(self, plaintext: bytes) -> str:
        """Encrypt and encode a request body."""
        ...

    def decrypt(self, token: str) -> bytes:
        """Decode and decrypt an answer; raise :class:`DecryptionError` if it fails."""
        ...


def derive_key(secret_key: str) -> bytes:
    """The 32-byte AES key the default codec derives from a 2Factor secret key."""
    if not secret_key:
        raise ConfigurationError("the secret key is empty")
    raw = secret_key.encode("utf-8")
    if len(raw) == 32:
        return raw
    if len(secret_key) == 64:
        try:
            return bytes.fromhex(secret_key)
        except ValueError:
            pass
    return hashlib.sha256(raw).digest()


class AESCodec:
    """The default codec: AES-256 in GCM (default) or CBC mode, framed as documented above."""

    __slots__ = ("_key", "mode")

    def __init__(self, secret_key: str | Secret, mode: EncryptionMode = "GCM") -> None:
        if mode not in ("GCM", "CBC"):
            raise ConfigurationError("encryption mode must be 'GCM' or 'CBC'")
        # Held in a Secret: error reporters walking a client's attributes must not find it.
        self._key = Secret(
            derive_key(secret_key.reveal() if isinstance(secret_key, Secret) else secret_key)
        )
        self.mode: EncryptionMode = mode

    def __repr__(self) -> str:
        return f"AESCodec(mode={self.mode!r}, key=<redacted>)"

    def encrypt(self, plaintext: bytes) -> str:
        """Encrypt ``plaintext`` and return the Base64 text."""
        if self.mode == "GCM":
            nonce = os.urandom(12)
            sealed = AESGCM(self._key.reveal()).encrypt(nonce, plaintext, None)
            return base64.b64encode(nonce + sealed).decode("ascii")
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key.reveal()), modes.CBC(iv)).encryptor()
        return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode(
            "ascii"
        )

    def decrypt(self, token: str) -> bytes:
        """Decode ``token`` and decrypt it; :class:`DecryptionError` when it is not ours (in
        CBC also when the result is not UTF-8 text, the sign of a wrong key)."""
        try:
            blob = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionError("encrypted payload is not valid Base64") from None
        try:
            if self.mode == "GCM":
                if len(blob) < 12 + 16:
                    raise DecryptionError("encrypted payload is too short")
                return AESGCM(self._key.reveal()).decrypt(blob[:12], blob[12:], None)
            if len(blob) < 32 or len(blob) % 16:
                raise DecryptionError("encrypted payload has a wrong length for AES-CBC")
            decryptor = Cipher(algorithms.AES(self._key.reveal()), modes.CBC(blob[:16])).decryptor()
            padded = decryptor.update(blob[16:]) + decryptor.finalize()
            unpadder = padding.PKCS7(128).unpadder()
            plain = unpadder.update(padded) + unpadder.finalize()
            # CBC has no integrity check: a wrong key passes the padding check about once in
            # 256 answers. Every answer is JSON text, and such garbage is next to never UTF-8
            # (UnicodeDecodeError is a ValueError: the wrong-key error below).
            plain.decode("utf-8")
            return plain
        except InvalidTag:
            raise DecryptionError("encrypted payload failed authentication (wrong key?)") from None
        except ValueError:
            raise DecryptionError("encrypted payload could not be decrypted (wrong key?)") from None
