"""Where document bytes live: a local folder by default, S3-compatible storage as an option.

The database keeps what a document is (:class:`~crossdock.db.models.ShipmentDocument`);
the bytes go to a :class:`Storage` under a key. Keys are relative, ``/``-separated paths
of a safe character set (``[A-Za-z0-9._-]`` segments, none of them ``.`` or ``..``), so a
key means the same thing on every backend and can never leave the storage's root.

:func:`storage_from_url` picks the backend from ``CROSSDOCK_STORAGE_URL``:

* ``file:///abs/path``: :class:`LocalStorage` (writes are atomic: a temporary file in the
  same folder, fsynced, renamed over the key; a failed write leaves nothing behind);
* ``s3://bucket/prefix?endpoint_url=http://minio:9000&region=eu-west-1``:
  :class:`S3Storage` (the ``crossdock[s3]`` extra), with credentials from the standard AWS
  environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN``) or the rest of botocore's usual chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from crossdock.errors import CrossdockError, ErrorCode, NotFound, UserError

if TYPE_CHECKING:
    from botocore.credentials import Credentials

__all__ = ["LocalStorage", "S3Storage", "Storage", "StorageError", "storage_from_url", "validate_key"]

#: The longest key (the ``storage_key`` column's width).
MAX_KEY = 255
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
#: Files at least this large are read in a worker thread, off the event loop.
LARGE_READ = 256 * 1024


class StorageError(CrossdockError):
    """The storage backend failed (unreachable, refused the credentials, out of space)."""

    code = ErrorCode.STORAGE_UNAVAILABLE


class Storage(Protocol):
    """Bytes by key. ``put`` replaces what a key held; ``delete`` of a missing key is a no-op."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises :class:`~crossdock.errors.NotFound` when absent."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


def validate_key(key: str) -> str:
    """``key`` if it is a relative path of safe segments; a ``UserError`` (``INVALID``) if
    not: absolute, ``..`` or ``.`` segments, empty segments, other characters, too long."""
    segments = key.split("/") if isinstance(key, str) else []
    if (
        not segments
        or len(key) > MAX_KEY
        or any(s in (".", "..") or not _SEGMENT.fullmatch(s) for s in segments)
    ):
        raise UserError(f"{key!r} is not a valid storage key", field="key", code="INVALID")
    return key


class LocalStorage:
    """Documents as files under ``root`` (made on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path(key)
        await asyncio.to_thread(self._write, path, bytes(data))

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # the rename itself is durable once the folder's entry is on disk
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            size = path.stat().st_size
            if size >= LARGE_READ:
                return await asyncio.to_thread(path.read_bytes)
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no document stored under {key!r}") from None

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    async def close(self) -> None:
        return None


class S3Storage:
    """An S3 bucket (or an S3-compatible service: MinIO, Ceph, R2, ...) under ``prefix``.

    Requests are signed with botocore's Signature Version 4 signer (AWS's own, so the
    signing rules stay right) and sent with httpx, the HTTP client the rest of the server
    uses. The object API calls used, PutObject, GetObject, HeadObject and DeleteObject, are
    AWS's documented REST operations (docs.aws.amazon.com/AmazonS3/latest/API/). With an
    ``endpoint_url`` requests are path-style (``{endpoint}/{bucket}/{key}``, what
    S3-compatible services expect); without one, virtual-hosted-style on AWS.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
    ) -> None:
        try:
            from botocore.auth import S3SigV4Auth  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the extra
            raise CrossdockError(
                "S3 storage needs the s3 extra: pip install 'crossdock[s3]'",
                code=ErrorCode.STORAGE_UNAVAILABLE,
            ) from None
        if not bucket:
            raise UserError("an S3 storage URL names a bucket: s3://bucket/prefix", field="storage_url")
        self.bucket = bucket
        self.prefix = "/".join(validate_key(prefix.strip("/")).split("/")) + "/" if prefix.strip("/") else ""
        self.region = region
        if endpoint_url:
            self._base = f"{endpoint_url.rstrip('/')}/{quote(bucket)}/"
        else:
            self._base = f"https://{bucket}.s3.{region}.amazonaws.com/"
        self._credentials = credentials
        self._http = httpx.AsyncClient(timeout=timeout, transport=httpx.AsyncHTTPTransport(retries=2))

    def url(self, key: str) -> str:
        return self._base + quote(self.prefix + validate_key(key))

    async def _resolved_credentials(self) -> Any:
        if self._credentials is None:
            from botocore.session import get_session

            # env vars first, then the config files, container and instance roles (may block)
            found = await asyncio.to_thread(get_session().get_credentials)
            if found is None:
                raise StorageError("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            self._credentials = found
        # refreshable credentials renew here when due (a network call): off the loop
        return await asyncio.to_thread(self._credentials.get_frozen_credentials)

    async def _send(
        self, method: str, key: str, data: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        url = self.url(key)
        request = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
        S3SigV4Auth(await self._resolved_credentials(), "s3", self.region).add_auth(request)
        try:
            return await self._http.request(
                method,
                url,
                content=data if method == "PUT" else None,
                headers=dict(request.headers.items()),
            )
        except httpx.HTTPError as exc:
            raise StorageError(f"S3 {method} {key!r} failed: {exc!r}") from exc

    @staticmethod
    def _fail(response: httpx.Response, method: str, key: str) -> StorageError:
        code = re.search(r"<Code>([^<]{1,64})</Code>", response.text)
        what = code.group(1) if code else response.reason_phrase
        return StorageError(f"S3 {method} {key!r} answered {response.status_code} {what}")

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        response = await self._send("PUT", key, bytes(data), {"Content-Type": content_type})
        if response.status_code != 200:
            raise self._fail(response, "PUT", key)

    async def get(self, key: str) -> bytes:
        response = await self._send("GET", key)
        if response.status_code == 404:
            raise NotFound(f"no document stored under {key!r}")
        if response.status_code != 200:
            raise self._fail(response, "GET", key)
        return response.content

    async def exists(self, key: str) -> bool:
        response = await self._send("HEAD", key)
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._fail(response, "HEAD", key)
        return True

    async def delete(self, key: str) -> None:
        response = await self._send("DELETE", key)
        if response.status_code not in (200, 204, 404):
            raise self._fail(response, "DELETE", key)

    async def close(self) -> None:
        await self._http.aclose()


def storage_from_url(url: str) -> Storage:
    """The storage a ``file:///abs/path`` or ``s3://bucket/prefix?endpoint_url=..&region=..``
    URL names (see the module's doc)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise UserError(f"{url!r}: a file storage URL is file:///absolute/path", field="storage_url")
        return LocalStorage(Path(parts.path))
    if parts.scheme == "s3":
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return S3Storage(
            parts.netloc,
            prefix=parts.path.strip("/"),
            region=query.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            endpoint_url=query.get("endpoint_url") or None,
        )
    raise UserError(f"{url!r}: storage URLs are file:///path or s3://bucket/prefix", field="storage_url")
