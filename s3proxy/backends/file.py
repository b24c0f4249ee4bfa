"""The local-directory backend: one file per data key under a root folder.

Data keys come from the storage layer, but the file system must stay safe whatever
a key contains: every key segment is percent-encoded into a single safe file name
(no `..`, no separators, no NUL, no over-long names), so no key can leave the root.
Writes go to a temporary file that is renamed into place, so a reader never sees a
partial blob and a failed write leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

from s3proxy import errors
from s3proxy.backends.base import Backend, Body, ObjectStream, PartInfo, PendingUpload, StoredBlob

CHUNK = 256 * 1024
_MAX_SEGMENT = 200  # bytes; longer encoded segments are shortened with a digest
_PART_FILE = re.compile(r"^\d{5}(-[0-9a-f]{32})?$")  # older parts: the number alone
_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _full(exc: OSError) -> errors.Error | None:
    """InsufficientStorage for a full disk or a file-size limit, None for other errors."""
    return errors.InsufficientStorage() if exc.errno in _NO_SPACE else None


def _place(tmp: Path, target: Path) -> None:
    """Rename a finished temporary file into place. Its folder may be missing (the first
    version of its key), or be removed by a delete pruning empty folders between our
    mkdir and the rename: then make it again and retry."""
    for attempt in range(5):
        try:
            os.replace(tmp, target)
            return
        except FileNotFoundError:
            if attempt == 4:
                raise
            target.parent.mkdir(parents=True, exist_ok=True)


def _segment(text: str) -> str:
    """One key segment as a file name that cannot escape its folder."""
    name = quote(text, safe="-_~ ")
    if name in ("", ".", ".."):
        name = "%" + name.replace(".", "%2E") + "%"
    elif name.startswith("."):  # never `.tmp` / `.multipart`, the backend's own folders
        name = "%2E" + name[1:]
    if len(name) > _MAX_SEGMENT:
        digest = hashlib.sha256(name.encode()).hexdigest()
        name = name[: _MAX_SEGMENT - 66] + "%~" + digest
    return name


def _join(parts: list[Path], target: Path) -> None:
    """Concatenate the part files into `target` (copy_file_range: no copy through user space)."""
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                left = os.fstat(src.fileno()).st_size
                try:
                    if not hasattr(os, "copy_file_range"):  # not Linux
                        raise OSError(errno.ENOSYS, "copy_file_range")
                    while left > 0:
                        done = os.copy_file_range(src.fileno(), out.fileno(), left)
                        if done == 0:
                            break
                        left -= done
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                        raise
                    shutil.copyfileobj(src, out, 1024 * 1024)  # copy_file_range unsupported here
                    left = 0
                if left:
                    raise errors.InvalidPart()
_SPECIAL = {"%%": "", "%%2E%": ".", "%%2E%2E%": ".."}


def _unsegment(name: str) -> str | None:
    """The key segment a file name encodes; None for one shortened with a digest."""
    if "%~" in name:
        return None
    return _SPECIAL.get(name, unquote(name))


def _stamp(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, UTC)


class FileBackend(Backend):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._root_prefix = os.path.join(str(self.root), "")  # with the trailing separator
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)
        self._uploads = self.root / ".multipart"
        self._uploads.mkdir(exist_ok=True)

    def path_of(self, key: str) -> Path:
        """The file of a data key; always inside the root (segments are encoded so that
        none is empty, `.`, `..` or holds a separator; checked again here all the same)."""
        path = os.path.join(self._root_prefix, *(_segment(s) for s in key.split("/")))
        if not path.startswith(self._root_prefix) or os.path.normpath(path) != path:
            raise errors.InvalidKey("Invalid key")
        return Path(path)

    @contextmanager
    def _temporary(self, target: Path) -> Iterator[Path]:
        """A temporary file that becomes `target` when the block succeeds, and is removed
        when it fails (a full disk or a file-size limit: InsufficientStorage)."""
        tmp = self._tmp / uuid.uuid4().hex
        try:
            yield tmp
            _place(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise (_full(exc) or exc) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def _write(self, target: Path, body: Body, size: int | None) -> int:
        written = 0
        with self._temporary(target) as tmp, open(tmp, "wb") as f:
            async for chunk in body:
                f.write(chunk)
                written += len(chunk)
            if size is not None and written != size:
                raise errors.IncompleteBody()
        return written

    async def put(self, key: str, body: Body, *, size: int | None, content_type: str,
                  cache_control: str) -> None:
        await self._write(self.path_of(key), body, size)
        return None  # a directory keeps no ETag: the caller hashes the body

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectStream:
        path = self.path_of(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise errors.NoSuchKey("Object not found") from exc
        total = os.fstat(f.fileno()).st_size
        last = total - 1 if end is None else min(end, total - 1)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                f.seek(start)
                remaining = last - start + 1
                while remaining > 0:
                    data = f.read(min(CHUNK, remaining))
                    if not data:
                        break
                    remaining -= len(data)
                    yield data
                    await asyncio.sleep(0)
            finally:
                f.close()

        return ObjectStream(size=total, start=start, end=last, chunks=chunks())

    async def size(self, key: str) -> int:
        try:
            return self.path_of(key).stat().st_size
        except FileNotFoundError as exc:
            raise errors.NoSuchKey("Object not found") from exc

    async def copy(self, source: str, destination: str) -> None:
        src = self.path_of(source)
        dst = self.path_of(destination)
        if not src.exists():
            raise errors.NoSuchKey("Object not found")
        with self._temporary(dst) as tmp:
            try:
                await asyncio.to_thread(shutil.copyfile, src, tmp)
            except FileNotFoundError as exc:  # the source was deleted while we copied it
                raise errors.NoSuchKey() from exc

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            path = self.path_of(key)
            path.unlink(missing_ok=True)
            self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove folders left empty, up to the root (reference: the file backend does)."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    # multipart: parts are files in .multipart/<upload id>/, joined on completion. Each
    # upload of a part gets a file of its own (`<number>-<random>`, the part's backend
    # ETag), so completing takes exactly the parts it was given even while a part of the
    # same number is uploaded again.

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id or not all(c in "0123456789abcdef" for c in upload_id):
            raise errors.NoSuchUpload("The specified upload does not exist.")
        return self._uploads / upload_id

    async def create_multipart(self, key: str, *, content_type: str, cache_control: str) -> str:
        upload_id = uuid.uuid4().hex
        self._upload_dir(upload_id).mkdir()
        return upload_id

    def _existing_upload(self, upload_id: str) -> Path:
        folder = self._upload_dir(upload_id)
        if not folder.is_dir():
            raise errors.NoSuchUpload("The specified upload does not exist.")
        return folder

    async def upload_part(self, key: str, upload_id: str, part_number: int, body: Body, *,
                          size: int) -> PartInfo:
        folder = self._existing_upload(upload_id)
        name = f"{part_number:05d}-{uuid.uuid4().hex}"
        await self._write(folder / name, body, size)
        return PartInfo(part_number, name)

    async def upload_part_copy(self, key: str, upload_id: str, part_number: int, source: str,
                               start: int, end: int) -> PartInfo:
        stream = await self.get(source, start=start, end=end)
        try:
            return await self.upload_part(key, upload_id, part_number, stream.chunks, size=end - start + 1)
        finally:
            await stream.aclose()

    async def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> None:  # no ETag kept
        folder = self._existing_upload(upload_id)
        if not all(_PART_FILE.match(p.etag) for p in parts):
            raise errors.InvalidPart()
        files = [folder / p.etag for p in parts]
        for part in files:
            if not part.exists():
                raise errors.InvalidPart()

        with self._temporary(self.path_of(key)) as tmp:
            # in a thread, and by the kernel where it can: a 1 GiB join took 3 s of the event loop
            await asyncio.to_thread(_join, files, tmp)
        shutil.rmtree(folder, ignore_errors=True)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            folder = self._upload_dir(upload_id)
        except errors.Error:
            return
        shutil.rmtree(folder, ignore_errors=True)

    # readiness and listing

    async def ping(self) -> None:
        if not (self.root.is_dir() and self._tmp.is_dir() and os.access(self._tmp, os.W_OK)):
            raise errors.BackendUnavailable(f"file backend root {self.root} is missing or not writable")

    async def list_blobs(self, prefix: str) -> AsyncIterator[StoredBlob]:
        """Walks the folder of `prefix`'s complete segments; keys are decoded from the
        file names (None for the rare name shortened with a digest)."""
        folder, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*(_segment(s) for s in folder.split("/"))) if folder else self.root
        stack: list[tuple[str, list[str] | None]] = [(str(start), folder.split("/") if folder else [])]
        while stack:
            path, segments = stack.pop()
            try:
                entries = list(os.scandir(path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if path == str(self.root) and entry.name in (".tmp", ".multipart"):
                    continue
                segment = _unsegment(entry.name)
                child = None if segments is None or segment is None else [*segments, segment]
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, child))
                    continue
                key = "/".join(child) if child is not None else None
                if key is not None and not key.startswith(prefix):
                    continue
                st = entry.stat(follow_symlinks=False)
                yield StoredBlob(key, os.path.relpath(entry.path, self.root), st.st_size, _stamp(st))
            await asyncio.sleep(0)

    async def list_uploads(self, prefix: str) -> AsyncIterator[PendingUpload]:
        """Every upload folder in .multipart/ (their keys are not kept: `key` is None),
        dated by their last change (a part added)."""
        for entry in list(os.scandir(self._uploads)):
            if entry.is_dir(follow_symlinks=False):
                yield PendingUpload(None, entry.name, _stamp(entry.stat(follow_symlinks=False)))

    async def list_scratch(self) -> AsyncIterator[StoredBlob]:
        """Files in .tmp/: writes in progress (their date moves as they grow) or left by
        a process killed mid-write."""
        for entry in list(os.scandir(self._tmp)):
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                yield StoredBlob(None, os.path.relpath(entry.path, self.root), st.st_size, _stamp(st))

    async def delete_stored(self, blobs: list[StoredBlob]) -> None:
        for blob in blobs:
            path = Path(os.path.normpath(os.path.join(self._root_prefix, blob.name)))
            if self.root not in path.parents:
                raise errors.InvalidKey("Invalid stored name")
            path.unlink(missing_ok=True)
            if path.parent != self._tmp:
                self._prune(path.parent)
