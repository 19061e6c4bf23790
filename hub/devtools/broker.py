"""A private Mosquitto for the demo, tests and benchmarks: started on a free loopback port, stopped on exit.

Its limits are the ones the project ships for a school's box (`config/mosquitto.conf`), or Debian's defaults when
asked (`limits="debian"`: what a box that was never configured runs). With a password file, an ACL and TLS when
asked; `loopback_pki` makes throwaway certificates for that.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from types import TracebackType
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class BrokerError(RuntimeError):
    """Mosquitto is missing or did not start."""


SHIPPED_CONF = Path(__file__).resolve().parents[2] / "config" / "mosquitto.conf"
# The settings of the shipped file that a private broker takes over; listeners, paths, security and logging are
# the private broker's own (loopback, a temporary folder).
LIMIT_KEYS = frozenset(
    {
        "max_queued_messages",
        "max_queued_bytes",
        "max_inflight_messages",
        "max_packet_size",
        "max_keepalive",
        "set_tcp_nodelay",
        "sys_interval",
        "autosave_interval",
        "persistent_client_expiration",
    }
)
Limits = Literal["shipped", "debian"]


def shipped_limits(path: Path = SHIPPED_CONF) -> list[str]:
    """The limit lines of the shipped broker configuration, in order; none when the file is not there (an
    installed wheel has no `config/`), so the broker runs with Mosquitto's defaults."""
    if not path.is_file():
        return []
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and line.split()[0] in LIMIT_KEYS:
            lines.append(line)
    return lines


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """A second, TLS listener: the broker's certificate and key, and the CA its clients' certificates must chain to."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = True


@dataclass(frozen=True, slots=True)
class LoopbackPki:
    """PEM files of a throwaway CA, a broker certificate for 127.0.0.1/localhost and a client certificate."""

    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def issue_certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """A certificate valid for two days; self-signed when `issuer` is None."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        usage_bits = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage_bits, critical=True)
    else:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        builder = builder.add_extension(aki, critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    path.chmod(0o600)


def loopback_pki(folder: Path, client_name: str = "campus-hub") -> LoopbackPki:
    """Throwaway certificates for a TLS broker on 127.0.0.1 (tests and benchmarks; never for a real site)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue_certificate("campus-hub throwaway CA", ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    loopback: list[x509.GeneralName] = [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
    server = issue_certificate("127.0.0.1", server_key, ca, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH, san=loopback)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue_certificate(client_name, client_key, ca, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    names = ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key")
    pki = LoopbackPki(*(folder / name for name in names))
    pem = serialization.Encoding.PEM
    pki.ca.write_bytes(ca.public_bytes(pem))
    pki.server_cert.write_bytes(server.public_bytes(pem))
    pki.client_cert.write_bytes(client.public_bytes(pem))
    write_key(pki.ca_key, ca_key)
    write_key(pki.server_key, server_key)
    write_key(pki.client_key, client_key)
    return pki


class Mosquitto:
    """`mosquitto -c FILE` on 127.0.0.1 with persistence, so a restart keeps sessions and queued messages.

    By default anonymous clients may do anything. With `password_file` anonymous clients are refused, with
    `acl_file` each user is held to its topics, and `tls` adds a TLS listener on `tls_port` next to the plain one.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        port: int | None = None,
        extra_conf: str = "",
        *,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        tls: BrokerTls | None = None,
        limits: Limits = "shipped",
    ) -> None:
        binary = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
        )
        if binary is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="campus-hub-broker-"))
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_conf = extra_conf
        self.password_file = password_file
        self.acl_file = acl_file
        self.tls = tls
        self.limits = limits
        self.tls_port: int | None = free_port() if tls is not None else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Started as root, Mosquitto drops to the `mosquitto` user and then cannot write its persistence file
        # or log into our (root-owned) folder: stay who we are instead.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf_path.write_text(
            f"listener {self.port} {self.host}\n"
            f"{user}"
            f"{self._security_conf()}"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            f"{self._limits_conf()}"
            f"log_dest file {self.workdir / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"{self.extra_conf}\n",
            encoding="utf-8",
        )
        self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, our own config file
            [self.binary, "-c", str(self.conf_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        waiting = [self.port] if self.tls_port is None else [self.port, self.tls_port]
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrokerError(f"mosquitto exited with {self._proc.returncode}: {err.strip()}")
            try:
                with socket.create_connection((self.host, waiting[0]), timeout=0.2):
                    waiting.pop(0)
                    if not waiting:
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout} s")

    def _limits_conf(self) -> str:
        if self.limits == "debian":
            return ""  # Mosquitto's own defaults, as Debian ships them: 1000 queued, 20 in flight per client
        return "".join(f"{line}\n" for line in shipped_limits())

    def _security_conf(self) -> str:
        # Global settings (per_listener_settings stays false): they hold for the TLS listener too.
        conf = "allow_anonymous false\n" if self.password_file is not None else "allow_anonymous true\n"
        if self.password_file is not None:
            conf += f"password_file {self.password_file}\n"
        if self.acl_file is not None:
            conf += f"acl_file {self.acl_file}\n"
        if self.tls is not None:
            conf += (
                f"listener {self.tls_port} {self.host}\n"
                f"cafile {self.tls.ca_file}\n"
                f"certfile {self.tls.cert_file}\n"
                f"keyfile {self.tls.key_file}\n"
                f"require_certificate {'true' if self.tls.require_certificate else 'false'}\n"
            )
        return conf

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()
        self._proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.cleanup()
