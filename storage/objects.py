"""The object store: bucket layout and streaming put/get through the MinIO SDK."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import IO, Any, Protocol

import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.datatypes import Part
from minio.error import S3Error

from storage.config import StorageConfig

PART_SIZE = 16 * 2**20
CHUNK_SIZE = 256 * 2**10


class Readable(Protocol):
    """What an upload reads from: the SDK calls only ``read`` (a file, or a reader that counts and hashes on the way)."""

    def read(self, size: int = -1, /) -> bytes: ...


class ObjectStoreError(RuntimeError):
    """The object store could not be reached or refused a request."""


class ObjectMissing(ObjectStoreError):
    """The object does not exist: no outage to wait out, something lost or never stored it."""

MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "NoSuchBucket"})


def job_prefix(job_id: str) -> str:
    """Where all of a job's objects live."""
    return f"jobs/{job_id}/"


def input_key(job_id: str) -> str:
    return job_prefix(job_id) + "input.zip"


def output_key(job_id: str) -> str:
    return job_prefix(job_id) + "output.zip"


def log_key(job_id: str) -> str:
    return job_prefix(job_id) + "log.txt"


def result_key(job_id: str) -> str:
    """Written once a job's outputs are stored: a redelivered message is then answered, not run."""
    return job_prefix(job_id) + "result.json"


def claim_key(job_id: str) -> str:
    """Who runs the job now, refreshed while it runs: a redelivered copy waits for that run instead of running twice."""
    return job_prefix(job_id) + "claim.json"


def cancel_key(job_id: str) -> str:
    """Present when the job was cancelled: a consumer that receives it later never starts it."""
    return job_prefix(job_id) + "cancel"


def _http_client(timeout: float) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=timeout),
        maxsize=16,
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class ObjectStore:
    """Objects of one bucket; every call raises ObjectStoreError on failure."""

    def __init__(self, config: StorageConfig, timeout: float = 60) -> None:
        self.bucket = config.s3_bucket
        self.client = Minio(
            config.s3_endpoint,
            access_key=config.s3_access_key,
            secret_key=config.s3_secret_key,
            secure=config.s3_secure,
            region=config.s3_region,
            http_client=_http_client(timeout),
        )
        self.public_client = (
            Minio(
                config.s3_public_endpoint,
                access_key=config.s3_access_key,
                secret_key=config.s3_secret_key,
                secure=config.s3_secure,
                region=config.s3_region,
            )
            if config.s3_public_endpoint
            else None
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except S3Error as exc:
            error = ObjectMissing if exc.code in MISSING_CODES else ObjectStoreError
            raise error(f"object store: {what} failed: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ObjectStoreError(f"object store: {what} failed: {exc}") from exc

    def ensure_bucket(self) -> None:
        if not self._call("bucket check", self.client.bucket_exists, bucket_name=self.bucket):
            self._call("bucket creation", self.client.make_bucket, bucket_name=self.bucket)

    def ping(self) -> None:
        self._call("bucket check", self.client.bucket_exists, bucket_name=self.bucket)

    def put_stream(
        self, key: str, data: Readable, length: int = -1, content_type: str = "application/octet-stream", metadata: dict[str, str] | None = None
    ) -> None:
        """Upload from a file object without reading it whole (multipart when the length is unknown or large).
        ``metadata`` (ASCII) is stored with the object, in the same request."""
        self._call(
            f"upload of {key}",
            self.client.put_object,
            bucket_name=self.bucket,
            object_name=key,
            data=data,
            length=length,
            part_size=PART_SIZE,
            content_type=content_type,
            metadata=metadata,
        )

    # A multipart upload step by step, for bodies that must be checked before they may become visible: put_object
    # completes on its own. MinIO SDK 7.2.x offers these steps only as private methods, so they are wrapped here
    # and nowhere else; a new SDK version needs checking against these four.

    def start_multipart(self, key: str, content_type: str) -> str:
        """Open a multipart upload; its parts stay invisible until complete_multipart. Returns the upload id."""
        return self._call(
            f"start of the upload of {key}",
            self.client._create_multipart_upload,
            bucket_name=self.bucket,
            object_name=key,
            headers={"Content-Type": content_type},
        )

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> Part:
        """Upload part ``number`` (from 1); every part but the last must hold at least 5 MiB."""
        etag = self._call(
            f"upload of part {number} of {key}",
            self.client._upload_part,
            bucket_name=self.bucket,
            object_name=key,
            data=data,
            headers=None,
            upload_id=upload_id,
            part_number=number,
        )
        return Part(number, etag)

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        """Join the parts into the object ``key``, which only now becomes visible."""
        self._call(
            f"completion of the upload of {key}",
            self.client._complete_multipart_upload,
            bucket_name=self.bucket,
            object_name=key,
            upload_id=upload_id,
            parts=parts,
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an unfinished upload and the parts it stored so far."""
        self._call(
            f"abort of the upload of {key}",
            self.client._abort_multipart_upload,
            bucket_name=self.bucket,
            object_name=key,
            upload_id=upload_id,
        )

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream", metadata: dict[str, str] | None = None) -> None:
        self.put_stream(key, io.BytesIO(data), len(data), content_type, metadata)

    def put_json(self, key: str, value: dict[str, Any]) -> None:
        self.put_bytes(key, json.dumps(value).encode(), "application/json")

    def iter_object(self, key: str, offset: int = 0, length: int = 0) -> Iterator[bytes]:
        """Yield an object's bytes (from ``offset``, ``length`` of them, 0 for all) in chunks; the connection is
        released however the caller stops."""
        response = self._call(
            f"download of {key}", self.client.get_object, bucket_name=self.bucket, object_name=key, offset=offset, length=length
        )
        try:
            yield from response.stream(CHUNK_SIZE)
        except urllib3.exceptions.HTTPError as exc:
            raise ObjectStoreError(f"object store: download of {key} broke off: {exc}") from exc
        finally:
            response.close()
            response.release_conn()

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.iter_object(key))

    def download_to(self, key: str, target: IO[bytes]) -> int:
        size = 0
        for chunk in self.iter_object(key):
            target.write(chunk)
            size += len(chunk)
        target.seek(0)
        return size

    def get_json(self, key: str) -> dict[str, Any] | None:
        """The object parsed as JSON, or None when it does not exist (one request either way)."""
        try:
            return json.loads(self.get_bytes(key))
        except ObjectMissing:
            return None

    def size(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""
        found = self.stat(key)
        return None if found is None else found[0]

    def stat(self, key: str) -> tuple[int, dict[str, str]] | None:
        """The object's size and the metadata stored with it (names without S3's ``x-amz-meta-``), or None when it
        does not exist."""
        try:
            info = self.client.stat_object(bucket_name=self.bucket, object_name=key)
            prefix = "x-amz-meta-"
            metadata = {name.lower()[len(prefix) :]: value for name, value in (info.metadata or {}).items() if name.lower().startswith(prefix)}
            return info.size or 0, metadata
        except S3Error as exc:
            if exc.code in MISSING_CODES - {"NoSuchBucket"}:
                return None
            raise ObjectStoreError(f"object store: stat of {key} failed: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ObjectStoreError(f"object store: stat of {key} failed: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def copy(self, source: str, target: str) -> None:
        """Copy an object inside the bucket on the server side; the bytes never pass through this process."""
        self._call(
            f"copy of {source} to {target}",
            self.client.copy_object,
            bucket_name=self.bucket,
            object_name=target,
            source=CopySource(bucket_name=self.bucket, object_name=source),
        )

    def remove(self, key: str) -> None:
        self._call(f"removal of {key}", self.client.remove_object, bucket_name=self.bucket, object_name=key)

    def keys_under(self, prefix: str) -> set[str]:
        """The keys that start with ``prefix``, in one listing request (for a few keys): cheaper than a lookup each."""
        listing = functools.partial(self.client.list_objects, bucket_name=self.bucket, prefix=prefix, recursive=True)
        return self._call(f"listing of {prefix}", lambda: {item.object_name for item in listing()})

    def remove_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; returns how many there were."""
        keys = self.keys_under(prefix)
        for key in keys:
            self.remove(key)
        return len(keys)

    def presigned_download(self, key: str, filename: str, expires: timedelta = timedelta(minutes=10)) -> str | None:
        """A URL a browser can fetch directly, when the admin configured a public endpoint; else None."""
        if self.public_client is None:
            return None
        return self._call(
            f"presigning {key}",
            self.public_client.presigned_get_object,
            bucket_name=self.bucket,
            object_name=key,
            expires=expires,
            response_headers={"response-content-disposition": f'attachment; filename="{filename}"'},
        )
