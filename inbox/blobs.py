"""A content-addressed file store for raw emails and attachments.

A blob is named by the SHA-256 of its bytes and lives at ``root/ab/abcd...``
(its first two hex digits name the directory). Consequences:

* 256 directories, made once. Stores written before this layout have their
  blobs at ``root/ab/cd/abcd...``; those are still found there. The second
  level was dropped because nearly every new blob made a new directory for
  itself, and making a directory cost ten times as much as writing the blob.

* Storing the same bytes twice stores them once; an existing blob is never
  rewritten.
* Writes are atomic: bytes go to a temporary file in ``root/tmp`` (same file
  system), are fsynced, and are renamed into place only when complete, so a
  reader never sees a partial blob, and a crash leaves at most a stray
  temporary file (never a wrong blob). The directory is fsynced after the rename
  (POSIX), so a committed row never points at a blob lost in a crash.
* Names are validated (exactly 64 lower-case hex digits) before any path is
  built, so no caller-supplied string can reach outside ``root``.
* Blob files are created 0600, like any private data of the service.
* A caller storing many blobs at once (an email sync's batch) may put them
  with ``durable=False`` and make them all durable with one `sync` call
  before it commits rows that name them: the fsyncs then run side by side,
  and each directory is fsynced once for all of its new blobs.

Synchronous on purpose: small blobs cost less than a thread hop; callers move
big ones off the event loop with ``asyncio.to_thread``. Nothing is deleted
here; collecting unreferenced blobs is the database's decision.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobStore"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = str(self.root)
        self._tmp = os.path.join(self._root, "tmp")

    def path(self, sha256: str) -> Path:
        """The blob's file, or where it would be put; ValueError for a bad name."""
        _check_name(sha256)
        return Path(self._existing(sha256) or self._final(sha256))

    def exists(self, sha256: str) -> bool:
        _check_name(sha256)
        return self._existing(sha256) is not None

    def open(self, sha256: str) -> BinaryIO:
        """The blob for reading; FileNotFoundError when it is not stored."""
        return self.path(sha256).open("rb")

    def read(self, sha256: str) -> bytes | None:
        """The whole blob, or None when it is not stored (or the name is no blob name)."""
        try:
            with self.path(sha256).open("rb") as f:
                return f.read()
        except (FileNotFoundError, ValueError):
            return None

    def put(self, data: bytes, *, durable: bool = True) -> str:
        """Store bytes already in memory; returns their SHA-256 (hex).

        With ``durable=False`` the blob is complete and visible but may not
        survive a power cut until `sync` is called for it.
        """
        digest = hashlib.sha256(data).hexdigest()
        # Plain string paths, not pathlib: an email sync stores a blob or two
        # per message, and on that path Path's own work showed in profiles.
        if not self._existing(digest):
            final = self._final(digest)
            tmp = self._temporary()
            try:
                with os.fdopen(tmp.fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    if durable:
                        os.fsync(out.fileno())
            except BaseException:
                tmp.discard()
                raise
            self._install(tmp, final, durable)
        return digest

    def sync(self, digests: Iterable[str]) -> None:
        """Make blobs put with ``durable=False`` durable: their files, then their directories."""
        paths = [self.path(d) for d in dict.fromkeys(digests)]
        if not paths:
            return
        # The root too: it holds the entry of any directory `put` made for them.
        directories = dict.fromkeys([*(p.parent for p in paths), self.root])
        # Side by side, so a journaling file system commits them together: one
        # after another, each could wait for a flush of the disk of its own.
        fsyncs = _fsync_threads()
        list(fsyncs.map(_fsync_path, paths))
        list(fsyncs.map(_fsync_path, directories))

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store a stream in bounded memory (one chunk at a time); returns (sha256, size)."""
        tmp = self._temporary()
        try:
            hasher = hashlib.sha256()
            size = 0
            with os.fdopen(tmp.fd, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.discard()
            raise
        digest = hasher.hexdigest()
        if self._existing(digest):
            tmp.discard()
        else:
            self._install(tmp, self._final(digest), durable=True)
        return digest, size

    def _final(self, digest: str) -> str:
        return os.path.join(self._root, digest[:2], digest)

    def _existing(self, digest: str) -> str | None:
        """The blob's file, in this layout or the one before it; None when not stored."""
        final = self._final(digest)
        if os.path.isfile(final):
            return final
        legacy = os.path.join(self._root, digest[:2], digest[2:4], digest)
        return legacy if os.path.isfile(legacy) else None

    def _temporary(self) -> _Temporary:
        """A new, empty temporary file beside the blobs (same file system, for the rename)."""
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="blob-", suffix=".part")
        except FileNotFoundError:
            os.makedirs(self._tmp, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="blob-", suffix=".part")
        return _Temporary(fd, name)

    def _install(self, tmp: _Temporary, final: str, durable: bool) -> None:
        """Rename the written temporary file into place; a blob already there is kept."""
        directory = os.path.dirname(final)
        made_directory = False
        try:
            if os.path.isfile(final):
                tmp.discard()
                return
            try:
                os.replace(tmp.name, final)
            except FileNotFoundError:  # the blob's directory is new
                os.makedirs(directory, exist_ok=True)
                made_directory = True
                os.replace(tmp.name, final)
        except BaseException:
            tmp.discard()
            raise
        if durable:
            _fsync_path(directory)
            if made_directory:
                _fsync_path(self._root)


@dataclass(frozen=True)
class _Temporary:
    fd: int
    name: str

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.name)


def _check_name(sha256: str) -> None:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError("a blob name is 64 lower-case hex digits")


@functools.cache
def _fsync_threads() -> ThreadPoolExecutor:
    """Threads kept for the process: starting a pool for each `sync` cost more CPU
    than its fsyncs."""
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="blob-fsync")


def _fsync_path(path: Path | str) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened elsewhere
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
