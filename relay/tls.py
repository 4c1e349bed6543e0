"""``--lan-tls``: a local certificate authority and the LAN listener's certificate (DESIGN.md §7).

Plain http on the LAN lets an active attacker replace the phone page's JavaScript; with TLS the
page is what the relay served and gets a secure context.  The relay makes its own small CA once
(``HITL_HOME/tls/ca.key`` 0600, ``ca.pem``), which the human installs on the phone (served at
``CA_PATH``), and issues the listener a certificate for exactly its LAN addresses, anew when they
change or near expiry.  Built on ``cryptography``'s X.509 builder, not by hand.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hitl_desk.settings import write_private

TLS_DIR = "tls"
CA_PATH = "/hitl-desk-ca.pem"
"""Where a LAN listener with TLS serves its CA certificate, for the phone to install."""
CA_DAYS = 3650
CERT_DAYS = 397
"""Browsers refuse server certificates valid for more than 398 days."""
RENEW_DAYS = 30


@dataclass(frozen=True)
class LanTls:
    """The files of the relay's local CA and its listener certificate."""

    folder: Path

    @classmethod
    def of(cls, home: Path) -> LanTls:
        """The TLS files under ``HITL_HOME``."""
        return cls(home / TLS_DIR)

    @property
    def ca_cert(self) -> Path:
        """The CA certificate (public: the phone installs it)."""
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The CA's private key (0600)."""
        return self.folder / "ca.key"

    @property
    def cert(self) -> Path:
        """The listener's certificate."""
        return self.folder / "server.pem"

    @property
    def key(self) -> Path:
        """The listener's private key (0600)."""
        return self.folder / "server.key"

    def ensure(self, addresses: list[str], now: dt.datetime | None = None) -> None:
        """Make the CA once, and a listener certificate for exactly ``addresses`` when needed."""
        now = now or dt.datetime.now(dt.UTC)
        ca_key, ca_cert = self._ca(now)
        wanted = sorted({ipaddress.ip_address(a) for a in addresses}, key=str)
        if self._current(wanted, now):
            return
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hitl-desk relay")]), ca_cert.subject,
                         key.public_key(), now, CERT_DAYS)
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(a) for a in wanted]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        write_private(self.key, _pem_key(key))
        write_private(self.cert, cert.public_bytes(serialization.Encoding.PEM).decode())

    def server_context(self, addresses: list[str]) -> ssl.SSLContext:
        """An SSL context for the LAN listener serving ``addresses``."""
        self.ensure(addresses)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context

    def _ca(self, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        loaded = self._load_ca()
        if loaded is not None and loaded[1].not_valid_after_utc > now:
            return loaded
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hitl-desk local CA ({socket.gethostname()})")])
        cert = (_builder(name, name, key.public_key(), now, CA_DAYS)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=True, crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(self.ca_key, _pem_key(key))
        write_private(self.ca_cert, cert.public_bytes(serialization.Encoding.PEM).decode())
        self.cert.unlink(missing_ok=True)  # issued by the old CA
        return key, cert

    def _load_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
        try:
            key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        except (FileNotFoundError, ValueError):
            return None  # none yet, or unreadable: a new CA (the phone installs it again)
        return (key, cert) if isinstance(key, ec.EllipticCurvePrivateKey) else None

    def _current(self, wanted: list[ipaddress.IPv4Address | ipaddress.IPv6Address], now: dt.datetime) -> bool:
        """Whether the listener certificate exists, names exactly ``wanted`` and is far from expiry."""
        try:
            cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (FileNotFoundError, ValueError, x509.ExtensionNotFound):
            return False
        have = sorted(names.get_values_for_type(x509.IPAddress), key=str)
        return have == wanted and cert.not_valid_after_utc - now > dt.timedelta(days=RENEW_DAYS)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime,
             days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days)))


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
