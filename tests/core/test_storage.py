"""Document storage: the local folder (atomic writes, keys that cannot escape) and S3,
against a real S3-compatible server run in-process (moto's)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from crossdock.config import Settings
from crossdock.errors import NotFound, UserError
from crossdock.storage import LocalStorage, S3Storage, Storage, storage_from_url, validate_key


async def round_trip(storage: Storage) -> None:
    key = "acme/shipments/7/label-0123456789abcdef.pdf"
    assert not await storage.exists(key)
    with pytest.raises(NotFound):
        await storage.get(key)
    await storage.put(key, b"%PDF-1.4 first", "application/pdf")
    assert await storage.exists(key)
    assert await storage.get(key) == b"%PDF-1.4 first"
    await storage.put(key, b"%PDF-1.4 second", "application/pdf")  # replaced
    assert await storage.get(key) == b"%PDF-1.4 second"
    big = os.urandom(600_000)
    await storage.put("acme/big.bin", big, "application/octet-stream")
    assert await storage.get("acme/big.bin") == big
    await storage.put("acme/empty", b"", "application/octet-stream")
    assert await storage.get("acme/empty") == b""
    await storage.delete("acme/empty")
    await storage.delete(key)
    await storage.delete(key)  # absent: no error
    assert not await storage.exists(key)
    with pytest.raises(NotFound):
        await storage.get(key)


async def test_local_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "docs")
    await round_trip(storage)
    await storage.close()
    # nothing but the files themselves is left in the folder (no temporary files)
    assert sorted(p.name for p in (tmp_path / "docs").rglob("*") if p.is_file()) == ["big.bin"]


@pytest.mark.parametrize(
    "key",
    [
        "/etc/passwd",
        "../outside",
        "a/../../outside",
        "a/./b",
        "a//b",
        "a/",
        "",
        "a\\b",
        "a b",
        "..",
        ".hidden",
        "a/\x00b",
        "é",
        "x" * 256,
    ],
)
async def test_keys_that_could_escape_or_confuse_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "docs")
    for operation in (
        storage.put(key, b"x", "text/plain"),
        storage.get(key),
        storage.exists(key),
        storage.delete(key),
    ):
        with pytest.raises(UserError) as refused:
            await operation
        assert refused.value.code == "INVALID"
    assert not (tmp_path / "outside").exists()
    assert not (tmp_path / "docs").exists() or not any((tmp_path / "docs").rglob("*"))


def test_valid_keys_pass() -> None:
    assert validate_key("t-1/shipments/3/label-ab12.zpl") == "t-1/shipments/3/label-ab12.zpl"
    assert validate_key("a.b_c-d") == "a.b_c-d"


async def test_a_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: Any) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("t/doc.pdf", b"old", "application/pdf")

    # the disk fails while the new bytes are being made durable
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        await storage.put("t/doc.pdf", b"new and longer", "application/pdf")
    with pytest.raises(OSError, match="Input/output"):
        await storage.put("t/fresh.pdf", b"never seen", "application/pdf")
    monkeypatch.undo()
    assert await storage.get("t/doc.pdf") == b"old"  # the old document, whole
    assert not await storage.exists("t/fresh.pdf")
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["doc.pdf"]  # no temporary file

    # the rename fails (a folder is in the way): no file under the key, no temporary file
    (tmp_path / "t" / "taken").mkdir()
    with pytest.raises(IsADirectoryError):
        await storage.put("t/taken", b"bytes", "application/pdf")
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["doc.pdf", "taken"]
    assert not any((tmp_path / "t" / "taken").iterdir())


def test_storage_urls(tmp_path: Path, monkeypatch: Any) -> None:
    local = storage_from_url((tmp_path / "d").as_uri())
    assert isinstance(local, LocalStorage) and local.root == (tmp_path / "d").resolve()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    s3 = storage_from_url("s3://bucket/some/prefix?endpoint_url=http://127.0.0.1:9000&region=eu-west-1")
    assert isinstance(s3, S3Storage)
    assert s3.region == "eu-west-1"
    assert s3.url("t/x.pdf") == "http://127.0.0.1:9000/bucket/some/prefix/t/x.pdf"
    assert storage_from_url("s3://bucket").url("a") == "https://bucket.s3.us-east-1.amazonaws.com/a"  # type: ignore[attr-defined]
    for bad in ("file://host/x", "file:relative", "ftp://x/y", "s3:///prefix", "s3://b/../x"):
        with pytest.raises(UserError):
            storage_from_url(bad)


def test_default_storage_is_beside_the_sqlite_database(tmp_path: Path) -> None:
    db = tmp_path / "crossdock.db"
    settings = Settings.from_env({"CROSSDOCK_DATABASE_URL": f"sqlite:///{db}", "CROSSDOCK_SECRET_KEY": "x"})
    assert settings.storage_url == (tmp_path / "crossdock-documents").as_uri()
    settings = Settings.from_env(
        {
            "CROSSDOCK_DATABASE_URL": "postgresql://u@h/d",
            "CROSSDOCK_DATA_DIR": str(tmp_path / "data"),
            "CROSSDOCK_SECRET_KEY": "x",
        }
    )
    assert settings.storage_url == (tmp_path / "data" / "documents").as_uri()
    chosen = Settings.from_env({"CROSSDOCK_STORAGE_URL": "s3://b/p", "CROSSDOCK_SECRET_KEY": "x"})
    assert chosen.storage_url == "s3://b/p"


# ---------------------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:  # pragma: no cover - the dev extra installs it
        pytest.skip("moto[server] is not installed")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except OSError as exc:  # pragma: no cover
        pytest.skip(f"the in-process S3 server cannot start: {exc}")
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3(s3_endpoint: str, monkeypatch: Any) -> AsyncIterator[S3Storage]:
    import botocore.session

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    # the bucket is made with AWS's own SDK: what ours writes, theirs must read
    sdk = botocore.session.get_session().create_client(
        "s3", endpoint_url=s3_endpoint, region_name="eu-west-1"
    )
    sdk.create_bucket(Bucket="docs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    storage = storage_from_url(f"s3://docs/crossdock?endpoint_url={s3_endpoint}&region=eu-west-1")
    assert isinstance(storage, S3Storage)
    try:
        yield storage
    finally:
        await storage.close()
        for item in sdk.list_objects_v2(Bucket="docs").get("Contents", []):
            sdk.delete_object(Bucket="docs", Key=item["Key"])
        sdk.delete_bucket(Bucket="docs")


async def test_s3_round_trip(s3: S3Storage, s3_endpoint: str) -> None:
    import botocore.session

    await round_trip(s3)
    await s3.put("t/shipments/1/label-ab.pdf", b"%PDF label", "application/pdf")
    sdk = botocore.session.get_session().create_client(
        "s3", endpoint_url=s3_endpoint, region_name="eu-west-1"
    )
    stored = sdk.get_object(Bucket="docs", Key="crossdock/t/shipments/1/label-ab.pdf")
    assert stored["Body"].read() == b"%PDF label"
    assert stored["ContentType"] == "application/pdf"
    with pytest.raises(UserError):
        await s3.put("../escape", b"x", "text/plain")


async def test_s3_missing_bucket_is_a_storage_error(s3_endpoint: str, monkeypatch: Any) -> None:
    from crossdock.storage import StorageError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    storage = storage_from_url(f"s3://no-such-bucket?endpoint_url={s3_endpoint}")
    try:
        with pytest.raises(StorageError) as failed:
            await storage.put("k", b"x", "text/plain")
        assert failed.value.code == "STORAGE_UNAVAILABLE"
        assert "NoSuchBucket" in failed.value.message
    finally:
        await storage.close()
