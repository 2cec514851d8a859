"""The content-addressed blob store for raw emails and attachments."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from inbox.blobs import BlobStore

MIB = 2**20


def stored_blobs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and re.fullmatch(r"[0-9a-f]{64}", p.name)]


def leftovers(root: Path) -> list[Path]:
    return [p for p in (root / "tmp").glob("*")] if (root / "tmp").exists() else []


def test_put_stores_by_sha256_in_one_of_256_directories(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"Subject: hello\r\n\r\nbody\r\n"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path(digest) == tmp_path / digest[:2] / digest
    assert store.exists(digest)
    with store.open(digest) as blob:
        assert blob.read() == data


def test_blobs_stored_in_the_earlier_two_level_layout_are_still_found(tmp_path: Path) -> None:
    data = b"an attachment stored by an earlier version"
    digest = hashlib.sha256(data).hexdigest()
    legacy = tmp_path / digest[:2] / digest[2:4] / digest
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(data)
    store = BlobStore(tmp_path)
    assert store.exists(digest)
    assert store.path(digest) == legacy
    assert store.read(digest) == data
    # Storing the same bytes again finds it there and writes no second copy.
    assert store.put(data) == digest
    assert store.put_stream([data]) == (digest, len(data))
    assert stored_blobs(tmp_path) == [legacy]
    assert leftovers(tmp_path) == []


def test_same_bytes_are_stored_once_and_never_rewritten(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"same")
    before = os.stat(store.path(digest))
    assert store.put(b"same") == digest
    assert store.put_stream([b"sa", b"me"]) == (digest, 4)
    after = os.stat(store.path(digest))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert stored_blobs(tmp_path) == [store.path(digest)]
    assert leftovers(tmp_path) == []


def test_put_stream_returns_hash_and_size(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    chunks = [b"a" * 1000, b"", bytearray(b"b" * 10), memoryview(b"c" * 5)]
    digest, size = store.put_stream(chunks)  # type: ignore[arg-type]
    expected = b"a" * 1000 + b"b" * 10 + b"c" * 5
    assert (digest, size) == (hashlib.sha256(expected).hexdigest(), len(expected))
    assert store.path(digest).read_bytes() == expected
    assert store.put_stream([]) == (hashlib.sha256(b"").hexdigest(), 0)


def test_no_partial_blob_is_ever_visible(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    seen_during_write: list[list[Path]] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"x" * 1000
            seen_during_write.append(stored_blobs(tmp_path))

    digest, _ = store.put_stream(chunks())
    assert seen_during_write == [[], [], []]
    assert stored_blobs(tmp_path) == [store.path(digest)]
    assert leftovers(tmp_path) == []


def test_a_failed_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"first half"
        raise ConnectionError("IMAP connection lost")

    with pytest.raises(ConnectionError):
        store.put_stream(broken())
    assert stored_blobs(tmp_path) == []
    assert leftovers(tmp_path) == []
    assert not store.exists(hashlib.sha256(b"first half").hexdigest())


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "ab/../../../../etc/passwd",
        "A" * 64,  # upper case is not how we name blobs
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "a" * 62 + "/.",
        "a" * 63 + "\n",
        "",
    ],
)
def test_names_that_are_not_sha256_hex_are_refused(tmp_path: Path, name: str) -> None:
    store = BlobStore(tmp_path)
    for method in (store.path, store.exists, store.open):
        with pytest.raises(ValueError):
            method(name)


def test_missing_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = "0" * 64
    assert not store.exists(digest)
    with pytest.raises(FileNotFoundError):
        store.open(digest)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_blobs_are_private(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"private mail")
    assert stat.S_IMODE(os.stat(store.path(digest)).st_mode) == 0o600


def test_concurrent_writers_of_the_same_bytes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(256 * 1024)
    barrier = threading.Barrier(8)

    def write() -> str:
        barrier.wait()
        return store.put_stream(data[i : i + 4096] for i in range(0, len(data), 4096))[0]

    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(lambda _: write(), range(8)))
    [digest] = digests
    assert store.path(digest).read_bytes() == data
    assert stored_blobs(tmp_path) == [store.path(digest)]
    assert leftovers(tmp_path) == []


def test_a_25mb_stream_is_stored_in_bounded_memory(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    hasher = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for i in range(25):
            chunk = bytes([i]) * MIB  # a fresh chunk each time, as a socket would give
            hasher.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        digest, size = store.put_stream(chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (digest, size) == (hasher.hexdigest(), 25 * MIB)
    assert peak < 4 * MIB, f"peak {peak / MIB:.1f} MiB"
