"""DTLS-SRTP (RFC 5764) on pyOpenSSL memory BIOs: handshake, fingerprint check, SRTP keys.

One :class:`DtlsCertificate` per worker (its SHA-256 fingerprint goes into every SDP the worker
answers). One :class:`DtlsSrtp` per transport: it is fed datagrams (first byte 20..63, RFC 7983),
writes handshake flights through a ``send`` callable, retransmits them when OpenSSL's DTLS timer
fires (:meth:`DtlsSrtp.poll`), and once the handshake is done and the peer certificate matches the
fingerprint from the SDP, exports keying material (RFC 5705, label ``EXTRACTOR-dtls_srtp``) into
two pylibsrtp sessions: ``rx`` (unprotect / unprotect_rtcp) and ``tx`` (protect / protect_rtcp).

Role: the server answers ``a=setup:passive`` (the client is DTLS client); in our own offers we
say ``a=setup:actpass`` and the client usually answers ``active``. A ClientHello arriving before
the answer tells us we are the server, so the handshake never waits for signaling; the
fingerprint is checked as soon as it is known, and no media flows before that.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pylibsrtp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import SSL

logger = logging.getLogger(__name__)

DtlsRole = Literal["client", "server"]


@dataclass(frozen=True)
class SrtpProfile:
    """An SRTP protection profile as OpenSSL and libsrtp name it, with its key sizes."""

    libsrtp: int
    openssl: bytes
    key_length: int
    salt_length: int

    def key_and_salt(self, material: bytes, idx: int) -> bytes:
        """RFC 5764 §4.2: client key, server key, client salt, server salt."""
        k = idx * self.key_length
        s = 2 * self.key_length + idx * self.salt_length
        return material[k : k + self.key_length] + material[s : s + self.salt_length]


_ALL_PROFILES = (
    SrtpProfile(pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, b"SRTP_AEAD_AES_128_GCM", 16, 12),
    SrtpProfile(pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, b"SRTP_AES128_CM_SHA1_80", 16, 14),
)


def _available_profiles() -> tuple[SrtpProfile, ...]:
    out = []
    for p in _ALL_PROFILES:
        try:
            pylibsrtp.Policy(srtp_profile=p.libsrtp)
        except pylibsrtp.Error:  # pragma: no cover - libsrtp built without GCM
            continue
        out.append(p)
    return tuple(out)


SRTP_PROFILES = _available_profiles()


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """``AB:CD:…`` as in ``a=fingerprint:sha-256`` (RFC 8122)."""
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


class DtlsCertificate:
    """A self-signed ECDSA P-256 certificate and its SSL context factory."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert
        self.fingerprint = fingerprint_sha256(cert)

    @classmethod
    def generate(cls, days: int = 30) -> DtlsCertificate:
        """A fresh key and certificate valid from yesterday for ``days`` days."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, os.urandom(8).hex())])
        now = datetime.datetime.now(tz=datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def context(self) -> SSL.Context:
        """A DTLS context offering our SRTP profiles; peer certificates are checked by hash."""
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.set_options(SSL.OP_NO_TICKET)
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *a: True)
        ctx.use_certificate(self.cert)  # type: ignore[arg-type]
        ctx.use_privatekey(self.key)  # type: ignore[arg-type]
        ctx.set_cipher_list(
            b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
            b"ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"
        )
        ctx.set_tlsext_use_srtp(b":".join(p.openssl for p in SRTP_PROFILES))
        return ctx


def is_dtls(data: bytes) -> bool:
    """RFC 7983: first byte 20..63 is DTLS."""
    return 19 < data[0] < 64


def is_client_hello(data: bytes) -> bool:
    """A DTLS handshake record (22) whose first message is a ClientHello (1)."""
    return len(data) > 13 and data[0] == 22 and data[13] == 1


class DtlsSrtp:
    """One DTLS association and the SRTP sessions it keys.

    States: ``new`` → ``connecting`` → ``connected`` (handshake done and fingerprint verified) or
    ``failed``; ``closed`` after :meth:`close`.
    """

    def __init__(
        self,
        certificate: DtlsCertificate,
        send: Callable[[bytes], None],
        on_connected: Callable[[], None],
        on_failed: Callable[[str], None],
    ) -> None:
        self._certificate = certificate
        self._send = send
        self._on_connected = on_connected
        self._on_failed = on_failed
        self._ssl: SSL.Connection | None = None
        self.role: DtlsRole | None = None
        self.state = "new"
        self._handshake_done = False
        self._remote_fingerprints: list[tuple[str, str]] | None = None
        self._material: tuple[SrtpProfile, bytes] | None = None
        self.rx: pylibsrtp.Session | None = None
        self.tx: pylibsrtp.Session | None = None
        self._next_timeout: float | None = None
        self._client_started = False

    # -- set-up -------------------------------------------------------------------------------

    def set_remote(self, fingerprints: list[tuple[str, str]], role: DtlsRole) -> None:
        """The peer's fingerprints from SDP and the role we play. Starts a client handshake."""
        self._remote_fingerprints = [(a.lower(), v.upper()) for a, v in fingerprints]
        if self.role is None:
            self._start(role)
        elif self.role != role:
            logger.debug("dtls: role %s kept (peer already started as the other)", self.role)
        self._maybe_connected()

    def _start(self, role: DtlsRole) -> None:
        self.role = role
        self.state = "connecting"
        ssl = SSL.Connection(self._certificate.context(), None)
        if role == "server":
            ssl.set_accept_state()
        else:
            ssl.set_connect_state()
        self._ssl = ssl
        self._client_started = False

    def kick(self) -> None:
        """Send the ClientHello (client role) once the peer's address is known."""
        if self.role == "client" and not self._client_started and self._ssl is not None:
            self._client_started = True
            self._step()

    # -- datagrams ----------------------------------------------------------------------------

    def handle(self, data: bytes) -> None:
        """Feed one DTLS record from the peer."""
        if self.state in ("closed", "failed"):
            return
        if self._ssl is None:
            if not is_client_hello(data):
                return  # we are the client but have no answer yet: the peer must wait
            self._start("server")
        assert self._ssl is not None
        self._ssl.bio_write(data)
        if not self._handshake_done:
            self._step()
            return
        try:
            self._ssl.recv(1500)  # alerts, close_notify; WebRTC sends no application data here
        except SSL.ZeroReturnError:
            self.state = "closed"
            self._on_failed("dtls_closed")
        except SSL.WantReadError:
            pass
        except SSL.Error as exc:
            logger.debug("dtls: error after handshake: %s", exc)
        self._flush()

    def poll(self, now: float) -> None:
        """Retransmit the last flight when OpenSSL's DTLS timer expired (call every ~50 ms)."""
        if self._ssl is None or self._handshake_done or self.state != "connecting":
            return
        if self._next_timeout is None or now < self._next_timeout:
            return
        try:
            self._ssl.DTLSv1_handle_timeout()
        except SSL.Error as exc:
            self._fail(f"dtls_timeout: {exc}")
            return
        self._flush()
        self._arm_timer()

    def _step(self) -> None:
        assert self._ssl is not None
        try:
            self._ssl.do_handshake()
        except SSL.WantReadError:
            self._flush()
            self._arm_timer()
            return
        except SSL.Error as exc:
            self._flush()
            self._fail(f"dtls_handshake: {exc}")
            return
        self._flush()
        self._handshake_done = True
        self._next_timeout = None
        profile_name = self._ssl.get_selected_srtp_profile()
        profile = next((p for p in SRTP_PROFILES if p.openssl == profile_name), None)
        if profile is None:
            self._fail("dtls: no SRTP profile negotiated")
            return
        material = self._ssl.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)
        )
        self._material = (profile, material)
        self._maybe_connected()

    def _arm_timer(self) -> None:
        assert self._ssl is not None
        timeout = self._ssl.DTLSv1_get_timeout()
        self._next_timeout = None if timeout is None else time.monotonic() + timeout

    def _flush(self) -> None:
        assert self._ssl is not None
        while True:
            try:
                data = self._ssl.bio_read(1500)
            except SSL.WantReadError:
                return
            if not data:
                return
            self._send(data)

    def _maybe_connected(self) -> None:
        """Connected once the handshake is done AND the peer's certificate matches the SDP."""
        if self.state != "connecting" or self._material is None:
            return
        if self._remote_fingerprints is None:
            return  # our offer's answer has not arrived yet
        assert self._ssl is not None
        peer = self._ssl.get_peer_certificate(as_cryptography=True)
        if peer is None:
            self._fail("dtls: no peer certificate")
            return
        digest = fingerprint_sha256(peer)
        known = [v for a, v in self._remote_fingerprints if a == "sha-256"]
        if not known or digest not in known:
            self._fail("dtls: fingerprint mismatch")
            return
        profile, material = self._material
        rx_idx, tx_idx = (0, 1) if self.role == "server" else (1, 0)
        self.rx = self._session(profile, material, rx_idx, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        self.tx = self._session(profile, material, tx_idx, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self.state = "connected"
        self._on_connected()

    @staticmethod
    def _session(
        profile: SrtpProfile, material: bytes, idx: int, ssrc_type: int
    ) -> pylibsrtp.Session:
        policy = pylibsrtp.Policy(
            key=profile.key_and_salt(material, idx),
            ssrc_type=ssrc_type,
            srtp_profile=profile.libsrtp,
        )
        policy.allow_repeat_tx = True  # NACK answers resend the same (seq, ssrc)
        policy.window_size = 1024
        return pylibsrtp.Session(policy)

    def _fail(self, reason: str) -> None:
        logger.info("dtls failed: %s", reason)
        self.state = "failed"
        self._on_failed(reason)

    def close(self) -> None:
        """Send close_notify when connected; idempotent."""
        if self.state == "closed":
            return
        if self._ssl is not None and self._handshake_done:
            try:
                self._ssl.shutdown()
                self._flush()
            except SSL.Error:
                pass
        self.state = "closed"
        self.rx = self.tx = None
