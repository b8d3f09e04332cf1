"""The landing zone: a local folder or an S3 bucket/prefix, behind one small interface.

No Dagster here: the Dagster resource builds a zone from its URL and an S3 client.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from riskassets.sot.layout import META_FILE, BatchRef, network_prefix, parse_batch_key, safe_key


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the landing root
    last_modified: dt.datetime  # UTC
    size: int


class MissingObjectError(FileNotFoundError):
    pass


class LandingZone(Protocol):
    url: str

    def exists(self) -> bool:
        """Whether the root (folder, bucket) exists at all."""
        ...

    def list(self, prefix: str, start_after: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` whose keys sort after ``start_after``: older date
        prefixes are not even visited."""
        ...

    def read(self, key: str) -> bytes: ...

    def size(self, key: str) -> int: ...

    def write(self, key: str, data: bytes) -> None: ...


class LocalLanding:
    """A folder with the same key layout as the bucket."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / safe_key(key)).resolve()
        # resolve() follows symlinks too: a link inside the root cannot point outside it.
        if not path.is_relative_to(self.root):
            raise ValueError(f"key {key!r} resolves outside the landing root")
        return path

    def exists(self) -> bool:
        return self.root.is_dir()

    def list(self, prefix: str, start_after: str = "") -> Iterator[ObjectInfo]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return
        for dirpath, dirs, files in os.walk(base):
            folder = Path(dirpath).relative_to(self.root).as_posix()
            # Skip a folder whose every key sorts before start_after (as S3's StartAfter).
            dirs[:] = [d for d in sorted(dirs) if _may_follow(f"{folder}/{d}/", start_after)]
            for name in sorted(files):
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key <= start_after and start_after:
                    continue
                if name.startswith(".") or not path.resolve().is_relative_to(self.root):
                    continue
                stat = path.stat()
                yield ObjectInfo(
                    key=key,
                    last_modified=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC),
                    size=stat.st_size,
                )

    def read(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise MissingObjectError(f"{key} is missing from the landing zone {self.url}")
        return path.read_bytes()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise MissingObjectError(f"{key} is missing from the landing zone {self.url}")
        return path.stat().st_size

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary name and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


class S3Landing:
    """An S3 bucket and prefix (any S3-compatible endpoint), through a boto3 client."""

    def __init__(self, url: str, client: Any):
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"landing URL {url!r} is not of the form s3://bucket/prefix")
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = client

    def _full(self, key: str) -> str:
        key = safe_key(key) if key else key
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self.client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def list(self, prefix: str, start_after: str = "") -> Iterator[ObjectInfo]:
        full = self._full(prefix.rstrip("/")) + "/" if prefix.strip("/") else self._full("")
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        bounds = {"StartAfter": self._full(start_after)} if start_after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full, **bounds):
            for obj in page.get("Contents", []):
                yield ObjectInfo(
                    key=obj["Key"][strip:],
                    last_modified=obj["LastModified"].astimezone(dt.UTC),
                    size=obj["Size"],
                )

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as e:
            raise MissingObjectError(f"{key} is missing from the landing zone {self.url}") from e

    def size(self, key: str) -> int:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._full(key))["ContentLength"]
        except self.client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise MissingObjectError(
                    f"{key} is missing from the landing zone {self.url}"
                ) from e
            raise

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)


def _may_follow(folder: str, start_after: str) -> bool:
    """Whether a key under ``folder`` (ending in "/") can sort after ``start_after``."""
    return not start_after or folder > start_after or start_after.startswith(folder)


def open_landing(url: str, s3_client: Any = None) -> LandingZone:
    """A zone for ``url``: ``s3://bucket/prefix`` (needs a boto3 client) or a local folder."""
    if url.startswith("s3://"):
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3Landing(url, s3_client)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"landing URL {url!r}: expected a local folder or s3://bucket/prefix")
    return LocalLanding(url.removeprefix("file://"))


@dataclass(frozen=True)
class CompleteBatch:
    batch: BatchRef
    meta_modified: dt.datetime


def list_complete_batches(
    zone: LandingZone,
    network: str,
    window_days: int | None = None,
    since: dt.date | None = None,
) -> list[CompleteBatch]:
    """Batches of ``network`` whose META.json exists (META.json is written last).

    Keys outside the layout are ignored. ``since`` lists only the processing dates from that
    day on (older date prefixes are not visited).
    """
    prefix = network_prefix(network)
    # Date prefixes sort by date: the keys of `since` and later ones sort after "{prefix}{since}".
    start_after = f"{prefix}{since.isoformat()}" if since else ""
    found = []
    for obj in zone.list(prefix, start_after=start_after):
        parsed = parse_batch_key(obj.key)
        if parsed is None or parsed[1] != META_FILE:
            continue
        batch = parsed[0]
        if batch.network != network or (window_days and batch.window_days != window_days):
            continue
        found.append(CompleteBatch(batch, obj.last_modified))
    return sorted(found, key=lambda b: b.batch)
