"""DKIM signatures for messages built by ``message.MessageTemplate``.

Measured here (bench/messages.py, 2 cores, 10-review digests of ~80 KB): dkimpy's own
dkim.sign takes ~3.3 ms a message with Ed25519 and ~13 ms with RSA-2048, most of the former
spent canonicalising the whole body with regular expressions, most of the latter in pure-Python
modular arithmetic. We write the body canonical already and hash it ourselves (SHA-256 of
80 KB: ~0.05 ms), canonicalise only the three personal headers per message (the static ones
once), and use dkimpy's RSA and key parsing (or PyNaCl for Ed25519) for the signature. Then:
  - Ed25519 (RFC 8463) signs in-process at ~5,500 messages/s (vs ~50,000/s unsigned):
    sending never waits for it. But many large receivers still ignore Ed25519 signatures,
    so an Ed25519-only signature may not count for DMARC there.
  - RSA-2048 still costs ~10 ms of CPU a signature (~95 messages/s in one process).
    ``render_many`` sends just the 32-byte digests to a process pool (one worker per core)
    and keeps rendering meanwhile: ~230 messages/s on 2 cores, bounded by cores, and more
    than an SMTP relay takes from one sender; the sending threads are not held up by it.
  - Or leave [dkim] unset and let the relay sign (the usual choice with a hosted relay).
Verification in tests uses dkimpy's verifier, independent of this signing path.
"""

from __future__ import annotations

import base64
import binascii
import functools
import multiprocessing
import re
from dataclasses import dataclass
from multiprocessing.context import BaseContext

import nacl.signing
from dkim.crypto import RSASSA_PKCS1_v1_5_sign, UnparsableKeyError, parse_pem_private_key

from ..config import Config
from ..errors import ConfigError

#: Headers the signature covers. A name listed more often than the header occurs also covers
#: its absence ("oversigning"): nobody can add a second From, or a Reply-To, without breaking it.
DKIM_HEADERS = (
    "from", "from", "reply-to", "reply-to", "to", "to", "subject", "subject", "date",
    "message-id", "mime-version", "content-type", "list-id", "list-unsubscribe",
    "list-unsubscribe", "list-unsubscribe-post", "list-unsubscribe-post", "feedback-id",
)

_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


class _Sha256Digest:
    """What dkimpy's RSA signer asks of a hash object, for a digest computed elsewhere."""

    name = "sha256"

    def __init__(self, digest: bytes):
        self._digest = digest

    def digest(self) -> bytes:
        return self._digest


def _rsa_sign(key: dict[str, int], digest: bytes) -> bytes:
    return bytes(RSASSA_PKCS1_v1_5_sign(_Sha256Digest(digest), key))


@functools.lru_cache(maxsize=4)
def _ed25519_key(seed: bytes) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(seed)


def _ed25519_sign(seed: bytes, digest: bytes) -> bytes:
    return bytes(_ed25519_key(seed).sign(digest).signature)


_WORKER_KEY: dict[str, int] = {}


def worker_init(key: dict[str, int]) -> None:
    _WORKER_KEY.clear()
    _WORKER_KEY.update(key)


def worker_sign(digests: list[bytes]) -> list[bytes]:
    return [_rsa_sign(_WORKER_KEY, d) for d in digests]


@dataclass(frozen=True)
class DkimSigner:
    """A DKIM key with its selector and domain. ``algorithm`` is rsa-sha256 or ed25519-sha256."""

    domain: str
    selector: str
    algorithm: str
    rsa_key: dict[str, int] | None = None
    ed25519_seed: bytes = b""

    def __repr__(self) -> str:  # never show key material
        return f"DkimSigner({self.selector}._domainkey.{self.domain}, {self.algorithm})"

    @classmethod
    def from_config(cls, config: Config) -> DkimSigner | None:
        """The configured signer, or None when [dkim] is not set. ConfigError names the key."""
        d = config.dkim
        given = {"key_file": d.key_file, "selector": d.selector, "domain": d.domain}
        if not any(given.values()):
            return None
        for key, value in given.items():
            if not value:
                raise ConfigError(
                    f"{config.path}: dkim.{key}: required when any of dkim.key_file, "
                    "dkim.selector, dkim.domain is set"
                )
        path = config.resolve(d.key_file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{config.path}: dkim.key_file: cannot read {path}: {exc.strerror}"
            ) from None
        return cls.from_key(data, selector=d.selector, domain=d.domain,
                            where=f"{config.path}: dkim.key_file: {path}")

    @classmethod
    def from_key(cls, data: bytes, *, selector: str, domain: str, where: str = "DKIM key"
                 ) -> DkimSigner:
        """Parse a PEM RSA key (PKCS#1 or #8), a PEM Ed25519 key (``openssl genpkey -algorithm
        ed25519``) or a base64 Ed25519 seed (dkimpy's ``dknewkey --ktype ed25519``)."""
        text = data.replace(b"\r\n", b"\n").strip()
        if text.startswith(b"-----BEGIN"):
            body = b"".join(line for line in text.split(b"\n") if not line.startswith(b"-----"))
            try:
                der = base64.b64decode(body, validate=True)
            except binascii.Error:
                raise ConfigError(f"{where}: not a PEM key (bad base64)") from None
            if der.startswith(_ED25519_PKCS8_PREFIX) and len(der) == 48:
                return cls(domain, selector, "ed25519-sha256", ed25519_seed=der[-32:])
            try:
                key = parse_pem_private_key(text + b"\n")
            except (UnparsableKeyError, ValueError, IndexError):
                raise ConfigError(
                    f"{where}: not an RSA or Ed25519 private key in PEM form"
                ) from None
            if key["modulus"].bit_length() < 1024:
                raise ConfigError(f"{where}: RSA key shorter than 1024 bits; use 2048")
            return cls(domain, selector, "rsa-sha256", rsa_key=dict(key))
        try:
            seed = base64.b64decode(text, validate=True)
        except binascii.Error:
            seed = b""
        if len(seed) != 32:
            raise ConfigError(
                f"{where}: not a key: expected a PEM RSA/Ed25519 private key or a base64 "
                "Ed25519 seed"
            )
        return cls(domain, selector, "ed25519-sha256", ed25519_seed=seed)

    @property
    def in_process(self) -> bool:
        """Cheap enough to sign inline (Ed25519); RSA goes to worker processes in bulk."""
        return self.algorithm == "ed25519-sha256"

    def sign_digest(self, digest: bytes) -> bytes:
        if self.rsa_key is not None:
            return _rsa_sign(self.rsa_key, digest)
        return _ed25519_sign(self.ed25519_seed, digest)


def relaxed_header(name: str, value: bytes) -> bytes:
    """RFC 6376 relaxed header canonicalisation of one field (with its CRLF)."""
    value = re.sub(rb"[ \t]+", b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.encode("ascii") + b":" + value + b"\r\n"


def header_fields(block: bytes) -> dict[str, bytes]:
    """The fields of a header block (each name once, as we write them): lower name -> value."""
    fields: dict[str, bytes] = {}
    for raw in re.split(rb"\r\n(?![ \t])", block.rstrip(b"\r\n")):
        name, _, value = raw.partition(b":")
        fields[name.decode("ascii").lower()] = value
    return fields





def fold_dkim(value: bytes) -> bytes:
    """Fold DKIM-Signature tags after "; " (and the h= list after ":"), lines under 78."""
    words: list[bytes] = []  # a fold may follow any word
    for tag in value.split(b"; "):
        if words:
            words[-1] += b";"
        if tag.startswith(b"h="):
            names = tag.split(b":")
            words.extend(n + b":" for n in names[:-1])
            words.append(names[-1])
        else:
            words.append(tag)
    lines, current, indent = [], b"", len("DKIM-Signature: ")  # the first line's name
    for word in words:
        sep = b"" if not current or current.endswith(b":") else b" "
        if current and indent + len(current) + len(sep) + len(word) > 76:
            lines.append(current)
            current, indent = word, 1
        else:
            current += sep + word
    lines.append(current)
    return b"\r\n ".join(lines)


def mp_context() -> BaseContext:
    # fork is unsafe once threads run (delivery may use several connections); forkserver
    # starts workers from a clean process.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")

