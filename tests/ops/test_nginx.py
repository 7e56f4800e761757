"""The service behind Debian's nginx, with the configuration kept in deploy/nginx/bedelau.conf filled in for this
run: TLS with a certificate made here, HTTP/2, gzip for JSON, the shared tile cache (every request still checked,
ETag revalidation after expiry), and the proxy headers. The test's clients connect from 127.0.0.2 and 127.0.0.3 so
that nginx (on 127.0.0.1, the only trusted proxy) is not mistaken for them: the audit trail, the citizen-report
limit and cookies' `Secure` then see the real client, and a client's own X-Forwarded-For proves nothing."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from ducting.localdb import APP_ROLE, OWNER_ROLE, LocalCluster
from ducting.migrate import upgrade
from ducting.settings import get_settings
from tests.conftest import TEST_DB
from tests.factories import at, node_body
from tests.live import free_port, running_service
from tests.ops.conftest import Seeded, app_engine, seed

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TILE = "/tiles/segments/16/52709/32562.pbf"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bedelau.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Front:
    https: str
    http: str
    service: str
    cert: Path
    seeded: Seeded
    engine: object

    def client(self, source: str = "127.0.0.2", *, direct: bool = False, **kw) -> httpx.Client:
        verify = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx.HTTPTransport(local_address=source, http2=not direct, verify=verify)
        return httpx.Client(base_url=self.service if direct else self.https, transport=transport, timeout=30, **kw)


def _nginx_main(prefix: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers read the test's private folder
    temps = "".join(
        f"    {k}_temp_path {prefix}/tmp/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log {prefix}/access.log;\n{temps}"
        f"    include {prefix}/bedelau.conf;\n}}\n"
    )


@pytest.fixture(scope="module")
def front() -> Iterator[Front]:
    cluster = LocalCluster.from_settings(get_settings())
    name = f"{TEST_DB}_nginx"
    cluster.ensure_database(name, fresh=True)
    upgrade("heads", url=cluster.url(role=OWNER_ROLE, dbname=name))
    url = cluster.url(role=APP_ROLE, dbname=name)
    engine = app_engine(LocalCluster(cluster.root, cluster.port, name))
    seeded = seed(engine, prefix="NGX")
    prefix = Path(tempfile.mkdtemp(prefix="ducting-nginx-"))
    (prefix / "tmp").mkdir()
    (prefix / "cache").mkdir()
    cert, key = make_certificate(prefix)
    env = {"DUCTING_TRUSTED_PROXIES": "127.0.0.1", "DUCTING_POOL_SIZE": "6"}
    try:
        with running_service(url, env=env) as service:
            https_port, http_port = free_port(), free_port()
            conf = (ROOT / "deploy/nginx/bedelau.conf").read_text()
            for key_, value in {
                "SERVER_NAME": "localhost 127.0.0.1",
                "UPSTREAM": service.removeprefix("http://"),
                "HTTP_PORT": f"127.0.0.1:{http_port}",
                "HTTPS_PORT": f"127.0.0.1:{https_port}",
                "HTTPS_SUFFIX": f":{https_port}",
                "CERT": str(cert),
                "KEY": str(key),
                "CACHE_DIR": str(prefix / "cache"),
                "TILE_CACHE_S": "2s",
                "AUTH_CACHE_S": "10s",
            }.items():
                conf = conf.replace(f"@{key_}@", value)
            assert not re.findall(r"@[A-Z_]+@", re.sub(r"#.*", "", conf)), "a placeholder was left"
            (prefix / "bedelau.conf").write_text(conf)
            (prefix / "nginx.conf").write_text(_nginx_main(prefix))
            cmd = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
            check = subprocess.run([*cmd, "-t"], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            f = Front(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", service, cert, seeded, engine)
            try:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        with f.client() as c:
                            if c.get("/healthz").status_code == 200:
                                break
                    except httpx.HTTPError:
                        pass
                    assert proc.poll() is None and time.monotonic() < deadline, (prefix / "error.log").read_text()
                    time.sleep(0.1)
                yield f
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    finally:
        engine.dispose()
        shutil.rmtree(prefix, ignore_errors=True)
        cluster.psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_tls_http2_gzip_and_the_plain_port_redirects(front):
    with front.client(headers=front.seeded.headers("planner")) as c:
        r = c.get("/healthz")
        assert r.status_code == 200 and r.http_version == "HTTP/2"
        assert r.headers["strict-transport-security"].startswith("max-age=")
        items = c.get("/api/v1/collections/segments/items", params={"limit": 50}, headers={"Accept-Encoding": "gzip"})
        assert items.status_code == 200 and items.headers["content-encoding"] == "gzip"
        assert items.json()["type"] == "FeatureCollection"  # httpx undid the gzip: it was JSON
        assert c.get("/metrics").status_code == 404  # never through the front
    r = httpx.get(front.http + "/peta?x=1", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == front.https + "/peta?x=1"


def test_tiles_are_cached_for_everyone_signed_in_checked_every_time_and_revalidated_by_etag(front):
    planner, operator = front.seeded.headers("planner"), front.seeded.headers("operator")
    with front.client() as c:
        first = c.get(TILE, headers=planner)
        assert first.status_code == 200 and first.headers["x-cache-status"] in ("MISS", "EXPIRED")
        again = c.get(TILE, headers=operator)  # another caller, the same cached bytes
        assert again.status_code == 200 and again.headers["x-cache-status"] == "HIT"
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        refused = c.get(TILE)  # cached, yet without a credential nothing comes back
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        assert c.get(TILE, headers={"Authorization": "Bearer bdl_not-a-token"}).status_code == 401
        time.sleep(3.5)  # past @TILE_CACHE_S@ (2 s, counted in whole seconds): the next one asks with the ETag
        later = c.get(TILE, headers=planner)
        assert later.status_code == 200 and later.headers["x-cache-status"] == "REVALIDATED"
        assert later.content == first.content
        boundary = c.get("/tiles/kecamatan/12/3262/2030.pbf")  # public: no credential needed
        assert boundary.status_code == 200
        assert c.get("/tiles/kecamatan/12/3262/2030.pbf").headers["x-cache-status"] == "HIT"
    access = [row for row in (Path(front.cert.parent) / "access.log").read_text().splitlines() if TILE in row]
    assert len(access) >= 5


def _audit(front, request_id: str) -> set[str]:
    with front.engine.connect() as conn:
        conn.execute(text("SELECT set_config('ducting.role', 'system', false)"))
        return set(
            conn.execute(
                text("SELECT DISTINCT client_addr FROM audit_log WHERE request_id = :r"), {"r": request_id}
            ).scalars()
        )


def test_the_audit_trail_records_the_real_client_and_nginx_request_id_and_ignores_a_forged_chain(front):
    spoof = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with front.client("127.0.0.2", headers=front.seeded.headers("planner") | spoof) as c:
        r = c.post("/api/v1/network/nodes", json=node_body("MH-NGX-P1", 900, 900))
        assert r.status_code == 201, r.text
        rid = r.headers["x-request-id"]
        assert len(rid) == 32  # nginx's $request_id, carried through
    assert _audit(front, rid) == {"127.0.0.2"}
    with front.client("127.0.0.3", direct=True, headers=front.seeded.headers("planner") | spoof) as c:
        r = c.post("/api/v1/network/nodes", json=node_body("MH-NGX-P2", 950, 900), headers={"X-Request-Id": "a" * 500})
        assert r.status_code == 201, r.text
        rid = r.headers["x-request-id"]
        assert rid != "a" * 500 and len(rid) == 32  # an unsafe id is replaced, not stored
    assert _audit(front, rid) == {"127.0.0.3"}  # straight to the service: its headers are not believed


def test_citizen_reports_are_limited_per_real_client_not_for_all_of_batam_at_once(front):
    lon, lat = at(60, 60)
    form = {"lon": str(lon), "lat": str(lat), "category": "tangled", "description": "kabel kusut di tiang"}
    with front.client("127.0.0.4") as c:
        codes = [c.post("/api/v1/public/reports", data=form).status_code for _ in range(6)]
    assert codes == [201] * 5 + [429]
    with front.client("127.0.0.5") as other:
        assert other.post("/api/v1/public/reports", data=form).status_code == 201


def test_session_cookies_are_secure_when_the_original_request_was_https(front):
    form = {"username": "ngx_planner", "password": "rahasia-ops-123"}
    with front.client() as c:
        r = c.post("/masuk", data=form, follow_redirects=False)
    assert r.status_code == 303
    cookies = r.headers.get_list("set-cookie")
    assert cookies and all("Secure" in v for v in cookies if v.startswith("bedelau_"))
    with front.client("127.0.0.3", direct=True, headers={"X-Forwarded-Proto": "https"}) as c:
        r = c.post("/masuk", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert not any("Secure" in v for v in r.headers.get_list("set-cookie"))  # plain http, header not believed
