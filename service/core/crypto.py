"""Keyring, envelope encryption and tokens.

Sealed blobs are ``version | kid length | kid | 96-bit nonce | AES-256-GCM ciphertext``. The
associated data binds every blob to the row and column it belongs to, so a ciphertext copied into
another row does not decrypt.

Portal content is sealed twice: inside, under a key derived from the portal token alone (which the
database stores only as a hash); outside, under the master key, as every other blob. A copy of the
database together with the master keys still cannot read a message without the link that only the
patient received, and rotating the master key re-seals the outer layer without needing the token.

Blind indexes (``mac``) are keyed by an *index key* that is not a master key: the database keeps it
sealed under the master key (``db/data_keys.py``), so dropping an old master key after rotation
leaves every stored index valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.core.randomness import random_bytes

_VERSION = 1
# The outer layer of token-bound content; version-1 token-bound blobs (before key rotation existed)
# used one key derived from the master key and the token together, and can only be read.
_TOKEN_LAYERED = 2
_NONCE_BYTES = 12
TOKEN_BYTES = 32

# scrypt parameters for verification answers (low-entropy secrets such as a date of birth):
# ~16 MiB and ~50 ms a check, so guessing offline is slow and online guessing is capped by lockout.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class DecryptionError(Exception):
    """A blob could not be opened: wrong key, wrong token, tampered or bound to another row."""


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: dict[str, bytes]
    active: str
    _macs: dict[bytes, hmac.HMAC] = field(default_factory=dict, repr=False, compare=False)
    # One cipher object per master key: building it (the AES key schedule) cost as much as the
    # encryption of a short address.
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)
    # The blind-index key: the last master key until the process loads the database's own
    # (``use_index_key``), which then outlives every master key.
    _index: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def generate(cls) -> Keyring:
        return cls({"k1": secrets.token_bytes(32)}, active="k1")

    def __repr__(self) -> str:
        return f"Keyring(kids={sorted(self.keys)}, active={self.active!r})"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return self._seal(self.active, self._cipher(self.active), plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        parts = _split(blob)
        if parts.version != _VERSION:
            raise DecryptionError("token-bound content needs its token")
        return parts.open(self._cipher(parts.kid), aad)

    def seal_for_token(self, plaintext: bytes, token: bytes, aad: bytes) -> bytes:
        nonce = random_bytes(_NONCE_BYTES)
        inner = nonce + AESGCM(_token_key(token)).encrypt(nonce, plaintext, aad)
        return self._seal(self.active, self._cipher(self.active), inner, aad, _TOKEN_LAYERED)

    def open_with_token(self, blob: bytes, token: bytes, aad: bytes) -> bytes:
        parts = _split(blob)
        if parts.version == _VERSION:
            return parts.open(AESGCM(_legacy_token_key(self._key(parts.kid), token)), aad)
        inner = parts.open(self._cipher(parts.kid), aad)
        try:
            return AESGCM(_token_key(token)).decrypt(
                inner[:_NONCE_BYTES], inner[_NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError("authentication failed") from None

    def reseal(self, blob: bytes, aad: bytes) -> bytes | None:
        """The blob sealed again under the active key, or None when it already is.

        Token-bound content is re-sealed on its outer layer only, so no token is needed. A
        version-1 token-bound blob cannot be re-sealed this way and raises ``DecryptionError``.
        """
        parts = _split(blob)
        if parts.kid == self.active:
            return None
        inner = parts.open(self._cipher(parts.kid), aad)
        return self._seal(self.active, self._cipher(self.active), inner, aad, parts.version)

    def use_index_key(self, key: bytes) -> None:
        """Key blind indexes with ``key`` from now on (the database's index key)."""
        self._index[:] = [key]
        self._macs.clear()

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            cipher = self._ciphers[kid] = AESGCM(self._key(kid))
        return cipher

    def kid_of(self, blob: bytes) -> str:
        return _split(blob).kid

    def mac(self, purpose: bytes, data: bytes) -> bytes:
        """Keyed digest for lookups that must not be reversible by someone holding only the DB.

        Keyed by the *index* key, never the active master key: lookups such as the address index
        must give the same value after any master-key rotation, or opted-out and suppressed
        addresses would stop being recognised.
        """
        keyed = self._macs.get(purpose)
        if keyed is None:
            key = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"mac:" + purpose
            ).derive(self.index_key)
            keyed = self._macs[purpose] = hmac.new(key, digestmod=hashlib.sha256)
        # Copying the keyed state skips hashing the key's pads again: half the cost of a
        # one-shot HMAC, which is what every address of an upload pays.
        h = keyed.copy()
        h.update(data)
        return h.digest()

    @property
    def index_key(self) -> bytes:
        return self._index[0] if self._index else self.keys[next(reversed(self.keys))]

    def _key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise DecryptionError("sealed with a key that is not in the keyring") from None

    @staticmethod
    def _seal(kid: str, cipher: AESGCM, plaintext: bytes, aad: bytes,
              version: int = _VERSION) -> bytes:
        nonce = random_bytes(_NONCE_BYTES)
        kid_bytes = kid.encode()
        header = bytes([version, len(kid_bytes)]) + kid_bytes
        return header + nonce + cipher.encrypt(nonce, plaintext, header + aad)


@dataclass(frozen=True, slots=True)
class _Sealed:
    header: bytes
    version: int
    kid: str
    nonce: bytes
    ciphertext: bytes

    def open(self, cipher: AESGCM, aad: bytes) -> bytes:
        try:
            return cipher.decrypt(self.nonce, self.ciphertext, self.header + aad)
        except InvalidTag:
            raise DecryptionError("authentication failed") from None


def _split(blob: bytes) -> _Sealed:
    if len(blob) < 2 + _NONCE_BYTES + 16 or blob[0] not in (_VERSION, _TOKEN_LAYERED):
        raise DecryptionError("unknown blob format")
    end = 2 + blob[1]
    header = blob[:end]
    nonce, ciphertext = blob[end : end + _NONCE_BYTES], blob[end + _NONCE_BYTES :]
    return _Sealed(header, blob[0], header[2:].decode(), nonce, ciphertext)


def _token_key(token: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"portal-content-inner").derive(token)


def _legacy_token_key(master: bytes, token: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=token, info=b"portal-content").derive(
        master
    )


def encode_token(raw: bytes) -> str:
    """The one spelling of a token in a URL: unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_token() -> tuple[str, bytes]:
    """A URL-safe portal or unsubscribe token and the raw bytes it encodes."""
    raw = secrets.token_bytes(TOKEN_BYTES)
    return encode_token(raw), raw


def campaign_token(link_key: bytes, purpose: bytes, message_id: bytes) -> str:
    """A campaign message's portal or unsubscribe token: the message id and a 128-bit HMAC of it
    under the campaign's random link key. Nothing per recipient is drawn, sealed or stored at
    fan-out; the link is checked by recomputing the tag (``campaign_token_valid``)."""
    return encode_token(message_id + _campaign_tag(link_key, purpose, message_id))


def campaign_token_message(raw: bytes) -> bytes:
    """The message id a decoded campaign token claims; believe it only after
    ``campaign_token_valid``."""
    return raw[:16]


def campaign_token_valid(link_key: bytes, purpose: bytes, raw: bytes) -> bool:
    return hmac.compare_digest(raw[16:], _campaign_tag(link_key, purpose, raw[:16]))


def _campaign_tag(link_key: bytes, purpose: bytes, message_id: bytes) -> bytes:
    return hmac.digest(link_key, purpose + b":" + message_id, "sha256")[:16]


def decode_token(token: str) -> bytes | None:
    if len(token) != 43:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=")
    except (ValueError, TypeError):
        return None
    # Two spare bits in the last character: only the canonical spelling is the token.
    if len(raw) != TOKEN_BYTES or encode_token(raw) != token:
        return None
    return raw


def token_hash(raw: bytes) -> bytes:
    # The token carries 256 bits of entropy, so a plain hash cannot be reversed by guessing.
    return hashlib.sha256(b"token:" + raw).digest()


def hash_answer(answer: str) -> bytes:
    salt = secrets.token_bytes(16)
    return salt + _scrypt(answer, salt)


def check_answer(answer: str, stored: bytes) -> bool:
    salt, expected = stored[:16], stored[16:]
    return hmac.compare_digest(_scrypt(answer, salt), expected)


def normalise_answer(answer: str) -> str:
    return "".join(answer.split()).casefold()


def _scrypt(answer: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        normalise_answer(answer).encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
        dklen=32,
    )
