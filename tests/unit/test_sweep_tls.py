"""``dse.sweep`` on a TLS-secured Dask cluster (issue 33), and the local cluster on loopback only.

The test makes its own certificate authority and a certificate for 127.0.0.1 with
``cryptography``, starts a LocalCluster whose scheduler and workers require TLS with them, and
runs a small sweep through ``dse.sweep.open_client`` (what ``--scheduler tls://... --tls-ca-file
--tls-cert --tls-key`` does): the same designs as the serial run. A client without a certificate,
or with one of another authority, is refused.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from distributed import Client, LocalCluster, Security

from dse.sweep import LOCAL_HOST, SweepError, local_cluster, main, open_client, run_sweep, tls_security
from tests.unit.test_sweep import _essentials

FAST = dict(population=6, generations=2)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key, cert) -> tuple[Path, Path]:
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path.with_suffix(".pem"), path.with_suffix(".key")


def make_pki(folder: Path, tag: str) -> dict[str, Path]:
    """A CA and one certificate it signs for 127.0.0.1 (server and client use): PEM files."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(minutes=5), not_valid_after=now + datetime.timedelta(days=1))
    ca_key = _key()
    ca = (x509.CertificateBuilder().subject_name(_name(f"convforge test CA {tag}")).issuer_name(_name(f"convforge test CA {tag}"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = _key()
    cert = (x509.CertificateBuilder().subject_name(_name(LOCAL_HOST)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOCAL_HOST)),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, _ = _write(folder / f"ca-{tag}", ca_key, ca)
    cert_pem, key_pem = _write(folder / f"node-{tag}", key, cert)
    return {"ca": ca_pem, "cert": cert_pem, "key": key_pem}


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    pki = make_pki(tmp_path_factory.mktemp("pki"), "a")
    files = {"tls_ca_file": str(pki["ca"])}
    for role in ("scheduler", "worker", "client"):
        files[f"tls_{role}_cert"], files[f"tls_{role}_key"] = str(pki["cert"]), str(pki["key"])
    security = Security(**files, require_encryption=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tls", host=LOCAL_HOST,
                      security=security, dashboard_address=None) as cluster:
        yield cluster, pki, tmp_path_factory.mktemp("other")


def test_a_sweep_on_a_tls_cluster_equals_the_serial_run(tmp_path, tls_cluster):
    cluster, pki, _ = tls_cluster
    assert cluster.scheduler_address.startswith(f"tls://{LOCAL_HOST}:")
    serial = run_sweep(["lenet"], ["pynq-z2", "kv260"], tmp_path / "serial", **FAST)
    with open_client(cluster.scheduler_address, tls_security(pki["ca"], pki["cert"], pki["key"])) as client:
        secured = run_sweep(["lenet"], ["pynq-z2", "kv260"], tmp_path / "tls", client=client, **FAST)
    assert all(not o.error for o in secured) and _essentials(secured) == _essentials(serial)


def test_clients_without_the_right_certificate_are_refused(tls_cluster):
    cluster, pki, other_folder = tls_cluster
    address = cluster.scheduler_address
    with pytest.raises((OSError, TimeoutError)):   # no TLS at all
        Client(address.replace("tls://", "tcp://"), timeout="3s")
    other = make_pki(other_folder, "b")            # a certificate of another authority
    with pytest.raises(SweepError, match=f"^cannot connect to the scheduler {address}"):
        open_client(address, tls_security(other["ca"], other["cert"], other["key"]), timeout="3s")
    with pytest.raises(SweepError, match="is a TLS scheduler: give --tls-ca-file, --tls-cert and --tls-key"):
        open_client(address)
    with pytest.raises(SweepError, match="--tls-key missing"):
        tls_security(pki["ca"], pki["cert"], None)


def test_the_cli_refuses_tls_settings_it_cannot_use(capsys, tmp_path):
    assert main(["--networks", "lenet", "--boards", "pynq-z2", "--tls-ca-file", str(tmp_path / "nope.pem"),
                 "--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem"),
                 "--scheduler", "tls://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.strip() == f"error: --tls-ca-file {tmp_path / 'nope.pem'} does not exist."


def test_the_default_local_cluster_listens_on_loopback_only():
    with local_cluster(2) as cluster, Client(cluster) as client:
        info = client.scheduler_info()
        addresses = [cluster.scheduler_address, *info["workers"]]
        assert len(addresses) == 3
        assert all(a.startswith(f"tcp://{LOCAL_HOST}:") for a in addresses), addresses
        assert cluster.dashboard_link is None or LOCAL_HOST in str(cluster.dashboard_link)
