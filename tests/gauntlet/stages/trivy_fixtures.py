"""Test fixtures for the image stage: a tiny Trivy vulnerability DB and a loopback OCI registry.

The DB is written in Trivy's own format (a BoltDB file plus metadata.json), so the real trivy
binary reads it and reports its CVE. It is pushed to a local ``docker-registry`` as the OCI
artifact Trivy downloads with ``--db-repository``, so tests exercise the mirror download path.

Run as a script to write the DB files into a directory: ``python trivy_fixtures.py OUT_DIR``.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEBIAN_BUCKET = "debian 12"
SEVERITY_NUMBERS = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}  # trivy-db's
AFFECTED_STATUS = 2  # trivy-db's status of an advisory without a fix


@dataclass(frozen=True)
class FixtureCve:
    """One made-up Debian 12 advisory: an empty ``fixed_version`` means no fix exists."""

    cve: str
    source_package: str
    fixed_version: str
    severity: str
    title: str


# zlib (binary zlib1g) is in local/python-base and in python:3.x-slim; bookworm ships
# 1:1.2.13.dfsg-1 (+deb12u1 later), so this fixed version is newer and the finding is fixable.
ZLIB_CVE = FixtureCve("CVE-2099-0001", "zlib", "1:1.2.13.dfsg-99", "HIGH", "fixture flaw in zlib")
# Used only to record parser fixtures: an unfixed CRITICAL one and a fixable LOW one.
GLIBC_UNFIXED_CVE = FixtureCve("CVE-2099-0002", "glibc", "", "CRITICAL", "fixture flaw in glibc")
BASH_LOW_CVE = FixtureCve("CVE-2099-0003", "bash", "5.2.15-99", "LOW", "fixture flaw in bash")
# Matches nothing in any image: a scan against it has no vulnerabilities.
ABSENT_PACKAGE_CVE = FixtureCve("CVE-2099-0004", "no-such-package", "1.0-1", "HIGH", "fixture flaw")


DB_LAYER_MEDIA_TYPE = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
DB_CONFIG_MEDIA_TYPE = "application/vnd.aquasec.trivy.config.v1+json"
OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
DEBIAN_REGISTRY_PATH = "/usr/bin/docker-registry"  # Debian package docker-registry

# BoltDB on-disk constants (go.etcd.io/bbolt): page header 16 bytes, leaf element 16 bytes.
PAGE_SIZE = 4096
BOLT_MAGIC = 0xED0CDAED
BOLT_VERSION = 2
BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF_FLAG = 0x01
PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos (from this element to its key), ksize, vsize
BUCKET_HEADER = struct.Struct("<QQ")  # root page id, sequence
META_BODY = struct.Struct("<IIIIQQQQQ")  # magic .. txid; the FNV-64a checksum follows


# A bucket maps keys to bytes (a value) or to another bucket (a dict).
Bucket = dict


def fnv64a(data: bytes) -> int:
    """Return the 64-bit FNV-1a hash that BoltDB stores as each meta page's checksum."""
    value = 0xCBF29CE484222325
    for byte in data:
        value ^= byte
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


class BoltWriter:
    """Writes a BoltDB file in one go: every bucket gets its own leaf page (plus overflow).

    Only what Trivy reads is supported: nested buckets and key/value pairs, no branch pages, so
    each bucket must fit in one (possibly overflowing) leaf page.
    """

    def __init__(self) -> None:
        self.pages: list[bytes] = []  # page images from page id 3 on (0-1 meta, 2 freelist)

    def write(self, path: Path, root: Bucket) -> None:
        """Write ``root`` (top-level bucket name -> Bucket) to ``path``."""
        self.pages = []
        root_page = self._write_bucket(root)
        high_water = 3 + sum(len(page) // PAGE_SIZE for page in self.pages)

        with open(path, "wb") as handle:
            for page_id in (0, 1):
                handle.write(self._meta_page(page_id, root_page, high_water))
            handle.write(self._page(2, FREELIST_PAGE, 0, b""))
            for page in self.pages:
                handle.write(page)

    def _write_bucket(self, bucket: Bucket) -> int:
        """Write the sub-buckets first, then this bucket's leaf page; return its page id."""
        entries: list[tuple[int, bytes, bytes]] = []
        for key in sorted(bucket, key=_as_bytes):
            value = bucket[key]
            if isinstance(value, dict):
                child_page = self._write_bucket(value)
                entries.append(
                    (BUCKET_LEAF_FLAG, _as_bytes(key), BUCKET_HEADER.pack(child_page, 0))
                )
            else:
                entries.append((0, _as_bytes(key), _as_bytes(value)))

        page_id = 3 + sum(len(page) // PAGE_SIZE for page in self.pages)
        self.pages.append(self._page(page_id, LEAF_PAGE, len(entries), self._leaf_body(entries)))
        return page_id

    @staticmethod
    def _leaf_body(entries: list[tuple[int, bytes, bytes]]) -> bytes:
        elements = b""
        data = b""
        data_start = LEAF_ELEMENT.size * len(entries)
        for index, (flags, key, value) in enumerate(entries):
            position = data_start + len(data) - index * LEAF_ELEMENT.size
            elements += LEAF_ELEMENT.pack(flags, position, len(key), len(value))
            data += key + value
        return elements + data

    @staticmethod
    def _page(page_id: int, flags: int, count: int, body: bytes) -> bytes:
        size = PAGE_HEADER.size + len(body)
        page_count = max(1, -(-size // PAGE_SIZE))
        header = PAGE_HEADER.pack(page_id, flags, count, page_count - 1)
        return (header + body).ljust(page_count * PAGE_SIZE, b"\x00")

    def _meta_page(self, page_id: int, root_page: int, high_water: int) -> bytes:
        # Both metas are valid; BoltDB uses the one with the higher transaction id.
        body = META_BODY.pack(
            BOLT_MAGIC, BOLT_VERSION, PAGE_SIZE, 0, root_page, 0, 2, high_water, page_id
        )
        body += struct.pack("<Q", fnv64a(body))
        return self._page(page_id, META_PAGE, 0, body)


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def fixture_buckets(cves: tuple[FixtureCve, ...] = (ZLIB_CVE,)) -> Bucket:
    """Return Trivy's buckets (data-source, "debian 12", vulnerability) holding ``cves``."""
    data_source = {
        "ID": "debian",
        "Name": "Debian Security Tracker",
        "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
    }
    debian: Bucket = {}
    vulnerabilities: Bucket = {}
    for item in cves:
        if item.fixed_version:
            advisory = {"FixedVersion": item.fixed_version}
        else:
            advisory = {"Status": AFFECTED_STATUS, "Severity": SEVERITY_NUMBERS[item.severity]}
        debian.setdefault(item.source_package, {})[item.cve] = json.dumps(advisory)
        vulnerabilities[item.cve] = json.dumps(
            {
                "Title": item.title,
                "Description": "A made-up CVE that exists only in the gauntlet test fixture DB.",
                "Severity": item.severity,
                "VendorSeverity": {"debian": SEVERITY_NUMBERS[item.severity]},
            }
        )
    return {
        "data-source": {DEBIAN_BUCKET: json.dumps(data_source)},
        DEBIAN_BUCKET: debian,
        "vulnerability": vulnerabilities,
    }


def metadata(now: datetime.datetime | None = None) -> dict:
    """Return metadata.json content for a DB built ``now`` (UTC) and valid for a year."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stamp = now.replace(microsecond=0)
    return {
        "Version": 2,
        "NextUpdate": (stamp + datetime.timedelta(days=365)).isoformat().replace("+00:00", "Z"),
        "UpdatedAt": stamp.isoformat().replace("+00:00", "Z"),
        "DownloadedAt": stamp.isoformat().replace("+00:00", "Z"),
    }


def write_db(out_dir: Path, cves: tuple[FixtureCve, ...] = (ZLIB_CVE,)) -> Path:
    """Write trivy.db and metadata.json into ``out_dir`` and return ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    BoltWriter().write(out_dir / "trivy.db", fixture_buckets(cves))
    (out_dir / "metadata.json").write_text(json.dumps(metadata()), encoding="utf-8")
    return out_dir


def seed_cache(cache_dir: Path, cves: tuple[FixtureCve, ...] = (ZLIB_CVE,)) -> Path:
    """Write the DB where ``trivy --cache-dir cache_dir`` looks for it; return the cache dir."""
    write_db(cache_dir / "db", cves)
    return cache_dir


def db_layer(db_dir: Path) -> bytes:
    """Return the tar.gz layer Trivy expects: trivy.db and metadata.json at the top level."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("trivy.db", "metadata.json"):
            archive.add(db_dir / name, arcname=name)
    return buffer.getvalue()


@dataclass
class LoopbackRegistry:
    """A ``docker-registry`` process serving plain HTTP on 127.0.0.1:``port``."""

    process: subprocess.Popen
    port: int

    @property
    def address(self) -> str:
        """Return host:port, the prefix of every repository reference on this registry."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate the registry process group this fixture started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def registry_binary() -> str | None:
    """Return the path of Debian's docker-registry binary, or None when it is not installed."""
    found = shutil.which("docker-registry")
    if found is None and os.access(DEBIAN_REGISTRY_PATH, os.X_OK):
        found = DEBIAN_REGISTRY_PATH  # PATH may lack /usr/bin in a trimmed CI environment
    return found


def start_registry(work_dir: Path, wait_s: float = 15.0) -> LoopbackRegistry:
    """Start docker-registry on a free loopback port with its storage under ``work_dir``."""
    binary = registry_binary()
    if binary is None:
        raise RuntimeError(
            "docker-registry not found; install it (Debian: apt-get install docker-registry)"
        )

    port = _free_port()
    config = work_dir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work_dir / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    with open(work_dir / "registry.log", "wb") as log:
        # The child keeps its own copy of the log descriptor after this block closes ours.
        process = subprocess.Popen(  # noqa: S603  pylint: disable=consider-using-with
            [binary, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    registry = LoopbackRegistry(process, port)

    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited {process.returncode}; see {work_dir / 'registry.log'}"
            )
        try:
            with urllib.request.urlopen(f"http://{registry.address}/v2/", timeout=1):  # noqa: S310
                return registry
        except OSError:
            time.sleep(0.1)
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer on {registry.address} within {wait_s} s")


def push_db(
    registry: LoopbackRegistry, db_dir: Path, repository: str = "trivy-db", tag: str = "2"
) -> str:
    """Push the DB in ``db_dir`` as Trivy's OCI artifact; return its --db-repository value."""
    layer = db_layer(db_dir)
    config = b"{}"
    base = f"http://{registry.address}/v2/{repository}"
    _push_blob(base, layer)
    _push_blob(base, config)

    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": _descriptor(DB_CONFIG_MEDIA_TYPE, config),
        "layers": [
            {
                **_descriptor(DB_LAYER_MEDIA_TYPE, layer),
                "annotations": {"org.opencontainers.image.title": "db.tar.gz"},
            }
        ],
    }
    request = urllib.request.Request(
        f"{base}/manifests/{tag}",
        data=json.dumps(manifest).encode("utf-8"),
        method="PUT",
        headers={"Content-Type": OCI_MANIFEST_MEDIA_TYPE},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback registry
        pass
    return f"{registry.address}/{repository}:{tag}"


def _descriptor(media_type: str, blob: bytes) -> dict:
    return {"mediaType": media_type, "digest": _digest(blob), "size": len(blob)}


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _push_blob(base: str, blob: bytes) -> None:
    """Upload one blob with the registry API's monolithic upload (POST, then PUT with digest)."""
    start = urllib.request.Request(f"{base}/blobs/uploads/", data=b"", method="POST")
    with urllib.request.urlopen(start, timeout=10) as response:  # noqa: S310 - loopback registry
        location = response.headers["Location"]
    if location.startswith("/"):
        location = base.split("/v2/")[0] + location
    separator = "&" if "?" in location else "?"
    upload = urllib.request.Request(
        f"{location}{separator}digest={_digest(blob)}",
        data=blob,
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(upload, timeout=30):  # noqa: S310 - loopback registry
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    # python trivy_fixtures.py OUT_DIR [all]: "all" adds the CVEs used to record parser fixtures.
    ALL = sys.argv[2:] == ["all"]
    write_db(Path(sys.argv[1]), (ZLIB_CVE, GLIBC_UNFIXED_CVE, BASH_LOW_CVE) if ALL else (ZLIB_CVE,))
