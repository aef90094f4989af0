"""Key material made fresh at start-up: the HTTPS certificate for the Salesforce listener and the connected app's
JWT signing key. Nothing is committed; everything is written to a temporary directory."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its private key on disk."""

    cert_path: Path
    key_path: Path


@lru_cache(maxsize=None)
def _private_key(purpose: str) -> rsa.RSAPrivateKey:
    """Generated once per process and purpose (RSA generation is the slow part of starting a sandbox)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_pair(directory: Path, stem: str, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> KeyPair:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return KeyPair(cert_path, key_path)


def _certificate(key: rsa.RSAPrivateKey, common_name: str, server: bool) -> x509.Certificate:
    """Self-signed; for the server it is its own CA so a requests session can trust it with verify=cert."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    public = key.public_key()
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False))
    if server:
        builder = (builder
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                                content_commitment=False, data_encipherment=False,
                                                key_agreement=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.SubjectAlternativeName([
                       x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False))
    return builder.sign(key, hashes.SHA256())


def server_certificate(directory: Path) -> KeyPair:
    """The HTTPS certificate for 127.0.0.1 / localhost."""
    key = _private_key("server")
    return _write_pair(directory, "salesforce-sandbox", key, _certificate(key, "127.0.0.1", server=True))


def connected_app_certificate(directory: Path) -> KeyPair:
    """The connected app's certificate (Salesforce holds it) and private key (the client signs JWTs with it)."""
    key = _private_key("connected-app")
    return _write_pair(directory, "connected-app", key, _certificate(key, "audiences-sandbox-app", server=False))


def server_tls_context(pair: KeyPair) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert_path, pair.key_path)
    return context
