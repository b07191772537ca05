"""Multikey encoding of Ed25519 keys (FEP-521a; W3C Controlled Identifiers §2.2.2 Multikey).

A Multikey value is multibase base58-btc (prefix ``z``) over a multicodec varint header and the raw key:
``0xed 0x01`` + 32-byte public key (``ed25519-pub``), ``0x80 0x26`` + 32-byte secret seed (``ed25519-priv``).
Public keys therefore always start ``z6Mk``. Decoding refuses any other prefix, codec or length, so a value
that parses is a usable key.

Pure: no I/O; base58 is written out here (it is 20 lines and the alphabet is the whole specification).
Spec: specs/PROTOCOL.md §Keys; vectors: specs/test-vectors/fep-521a/.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from protocol.errors import MalformedInput

__all__ = [
    "ED25519_PRIV_HEADER",
    "ED25519_PUB_HEADER",
    "b58decode",
    "b58encode",
    "decode_multibase",
    "decode_private_key",
    "decode_public_key",
    "encode_multibase",
    "encode_private_key",
    "encode_public_key",
]

ED25519_PUB_HEADER = b"\xed\x01"
ED25519_PRIV_HEADER = b"\x80\x26"

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}
# A multibase key or signature is under 100 characters; refusing long input bounds the big-integer work.
_MAX_ENCODED = 512


def b58encode(data: bytes) -> str:
    """Bitcoin base58 (leading zero bytes become leading ``1``s)."""
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_ALPHABET[remainder])
    leading = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    if len(text) > _MAX_ENCODED:
        raise MalformedInput(f"base58 value is {len(text)} characters, over the {_MAX_ENCODED} limit")
    number = 0
    for char in text:
        value = _INDEX.get(char)
        if value is None:
            raise MalformedInput(f"{char!r} is not a base58 character")
        number = number * 58 + value
    leading = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading + body


def encode_multibase(data: bytes) -> str:
    """Multibase base58-btc: ``z`` + base58."""
    return "z" + b58encode(data)


def decode_multibase(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("z"):
        raise MalformedInput("multibase value must be base58-btc (start with 'z')")
    return b58decode(text[1:])


def encode_public_key(key: Ed25519PublicKey) -> str:
    """``publicKeyMultibase`` of an Ed25519 public key (``z6Mk...``)."""
    return encode_multibase(ED25519_PUB_HEADER + key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def decode_public_key(text: str) -> Ed25519PublicKey:
    raw = decode_multibase(text)
    if raw[:2] != ED25519_PUB_HEADER:
        raise MalformedInput("publicKeyMultibase is not an Ed25519 key (multicodec 0xed01 expected)")
    if len(raw) != 34:
        raise MalformedInput(f"Ed25519 public key must be 32 bytes, got {len(raw) - 2}")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def encode_private_key(key: Ed25519PrivateKey) -> str:
    """``secretKeyMultibase`` of an Ed25519 private key: the 32-byte seed behind multicodec 0x8026."""
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return encode_multibase(ED25519_PRIV_HEADER + seed)


def decode_private_key(text: str) -> Ed25519PrivateKey:
    raw = decode_multibase(text)
    if raw[:2] != ED25519_PRIV_HEADER:
        raise MalformedInput("secretKeyMultibase is not an Ed25519 secret key (multicodec 0x8026 expected)")
    if len(raw) != 34:
        raise MalformedInput(f"Ed25519 secret key must be 32 bytes, got {len(raw) - 2}")
    return Ed25519PrivateKey.from_private_bytes(raw[2:])
