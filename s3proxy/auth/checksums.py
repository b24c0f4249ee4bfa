"""Streaming request checksums: x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256} and Content-MD5.

Recent AWS SDKs send a checksum with every upload by default (in a header, or in an
aws-chunked trailer): CRC32 from boto3, CRC64/NVME from the AWS CLI v2. So S3 uploads
must be checked as they stream, never by reading the whole body first.

CRC32 is zlib's. CRC32C and CRC64/NVME come from `awscrt` (AWS's C runtime, what
botocore itself uses for them), over 10 GB/s; it is imported on first use, since most
deployments never see these checksums and the import costs each worker about 6 MiB.
Where awscrt cannot be installed, a pure-Python slicing-by-8 table implementation does
the same at about 14 MB/s: correct and bounded in memory, but it holds the event loop
for about 70 ms per MiB.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from s3proxy import errors


@functools.cache
def accelerator() -> Any:
    """awscrt's checksums module, or None where awscrt is missing (see the docstring)."""
    try:
        from awscrt import checksums  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - awscrt is a dependency; this is the fallback
        return None
    return checksums

ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
# headers that share the prefix but carry no checksum value
_NOT_VALUES = frozenset({"x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm"})
_DIGEST_SIZE = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}


def _tables(poly: int, width: int) -> list[list[int]]:
    """Slicing-by-8 tables for a reflected CRC."""
    mask = (1 << width) - 1
    t0 = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        t0.append(crc & mask)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tables


_CRC32C = _tables(0x82F63B78, 32)
_CRC64NVME = _tables(0x9A6C9329AC4BC9B5, 64)


def _crc32c_update(crc: int, data: bytes) -> int:
    """Reflected CRC32C on the internal (pre-xorout) register, 8 bytes per step."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC32C
    n = len(data)
    end8 = n - n % 8
    mv = memoryview(data)
    for (word,) in _iter_u64(mv[:end8]):
        lo = (word & 0xFFFFFFFF) ^ crc
        hi = word >> 32
        crc = (t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^ t4[lo >> 24]
               ^ t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^ t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24])
    for b in mv[end8:]:
        crc = (crc >> 8) ^ t0[(crc ^ b) & 0xFF]
    return crc


def _crc64_update(crc: int, data: bytes) -> int:
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC64NVME
    n = len(data)
    end8 = n - n % 8
    mv = memoryview(data)
    for (word,) in _iter_u64(mv[:end8]):
        x = word ^ crc
        crc = (t7[x & 0xFF] ^ t6[(x >> 8) & 0xFF] ^ t5[(x >> 16) & 0xFF] ^ t4[(x >> 24) & 0xFF]
               ^ t3[(x >> 32) & 0xFF] ^ t2[(x >> 40) & 0xFF] ^ t1[(x >> 48) & 0xFF] ^ t0[x >> 56])
    for b in mv[end8:]:
        crc = (crc >> 8) ^ t0[(crc ^ b) & 0xFF]
    return crc


def _iter_u64(mv: memoryview) -> Any:
    return struct.iter_unpack("<Q", mv)


class Checksum:
    """One running checksum; `update` with each piece, then `digest` / `b64digest`."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._hash: Any = hashlib.new(algorithm) if algorithm in ("sha1", "sha256") else None
        self._crc = 0 if algorithm == "crc32" else (1 << (8 * _DIGEST_SIZE[algorithm])) - 1
        crt = accelerator() if algorithm in ("crc32c", "crc64nvme") else None
        self._crt: Callable[..., int] | None = None if crt is None else getattr(crt, algorithm)

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self.algorithm == "crc32":
            self._crc = zlib.crc32(data, self._crc)
        elif self._crt is not None:  # awscrt takes and returns the final (xorout) value
            self._crc = self._crt(data, self._crc ^ _mask(self.algorithm)) ^ _mask(self.algorithm)
        elif self.algorithm == "crc32c":
            self._crc = _crc32c_update(self._crc, data)
        else:
            self._crc = _crc64_update(self._crc, data)

    def digest(self) -> bytes:
        if self._hash is not None:
            return bytes(self._hash.digest())
        value = self._crc if self.algorithm == "crc32" else self._crc ^ _mask(self.algorithm)
        return value.to_bytes(_DIGEST_SIZE[self.algorithm], "big")

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode()


def _mask(algorithm: str) -> int:
    return (1 << (8 * _DIGEST_SIZE[algorithm])) - 1


def normalize_algorithm(name: str) -> str | None:
    """'CRC32', 'crc32' or 'x-amz-checksum-crc32' -> 'crc32'; None if unknown."""
    value = name.strip().lower().removeprefix("x-amz-checksum-")
    return value if value in ALGORITHMS else None


def new_checksum(name: str) -> Checksum:
    algorithm = normalize_algorithm(name)
    if algorithm is None:
        raise errors.InvalidRequest(f"Checksum algorithm {name!r} is not supported.")
    return Checksum(algorithm)


CRC_ALGORITHMS = ("crc32", "crc32c", "crc64nvme")


def combine_crcs(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """The base64 CRC of the concatenation of pieces, from each piece's base64 CRC and
    length (a multipart upload's FULL_OBJECT checksum from its parts' checksums)."""
    crt = accelerator()
    if crt is None:  # pragma: no cover - awscrt is a dependency
        raise errors.NotImplemented("Full-object checksums need awscrt on this server")
    combine: Callable[[int, int, int], int] = getattr(crt, f"combine_{algorithm}")
    size = _DIGEST_SIZE[algorithm]
    total = 0
    for index, (value, length) in enumerate(parts):
        raw = _decode_b64(value, size)
        if raw is None:
            raise errors.InvalidRequest(f"Value for x-amz-checksum-{algorithm} is invalid.")
        crc = int.from_bytes(raw, "big")
        total = crc if index == 0 else combine(total, crc, length)
    return base64.b64encode(total.to_bytes(size, "big")).decode()


SINGLE_CHECKSUM = "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."


def mismatch_message(algorithm: str) -> str:
    """AWS's BadDigest for a well-formed checksum that is not the body's ("The SHA256 you
    specified did not match the calculated checksum."); a malformed value is
    InvalidRequest "Value for x-amz-checksum-sha256 header is invalid." instead."""
    return f"The {algorithm.upper()} you specified did not match the calculated checksum."


# --- multipart uploads -------------------------------------------------------------------
#
# CreateMultipartUpload may choose an algorithm and a type: COMPOSITE (the object's
# checksum is the checksum of its parts' checksums, written `value-N`) or FULL_OBJECT
# (the checksum of the whole object, which CRCs can combine from the parts'). SHA-1 and
# SHA-256 can only be COMPOSITE, CRC64NVME only FULL_OBJECT; CRC32/CRC32C default to
# COMPOSITE. The messages are AWS's (as LocalStack's AWS-validated snapshots show them).

COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"
_TYPES = {"sha1": (COMPOSITE,), "sha256": (COMPOSITE,), "crc32": (COMPOSITE, FULL_OBJECT),
          "crc32c": (COMPOSITE, FULL_OBJECT), "crc64nvme": (FULL_OBJECT,)}


def multipart_checksum(algorithm: str | None, kind: str | None) -> tuple[str, str] | None:
    """(algorithm, type) from CreateMultipartUpload's x-amz-checksum-algorithm and
    x-amz-checksum-type, None when neither is given."""
    if not algorithm:
        if kind:
            raise errors.InvalidRequest("The x-amz-checksum-type header can only be used with the "
                                        "x-amz-checksum-algorithm header.")
        return None
    name = normalize_algorithm(algorithm)
    if name is None:
        raise errors.InvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the "
                                    "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
    allowed = _TYPES[name]
    chosen = kind.strip().upper() if kind else allowed[0]
    if chosen not in (COMPOSITE, FULL_OBJECT):
        raise errors.InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    if chosen not in allowed:
        raise errors.InvalidRequest(f"The {chosen} checksum type cannot be used with the {name} checksum "
                                    "algorithm.")
    return name, chosen


def composite_checksum(algorithm: str, parts: list[str]) -> str:
    """A COMPOSITE multipart checksum: the algorithm over the parts' raw checksums, then
    `-N`, the number of parts."""
    whole = Checksum(algorithm)
    for value in parts:
        raw = _decode_b64(value, _DIGEST_SIZE[algorithm])
        if raw is None:
            raise errors.InvalidRequest(f"Value for x-amz-checksum-{algorithm} is invalid.")
        whole.update(raw)
    return f"{whole.b64digest()}-{len(parts)}"


def header_checksums(headers: Mapping[str, str]) -> dict[str, str]:
    """{algorithm: base64} of a request's x-amz-checksum-* headers, each checked to be a
    supported algorithm with a well-formed value."""
    claimed: dict[str, str] = {}
    for name, value in headers.items():
        if not name.startswith("x-amz-checksum-") or name in _NOT_VALUES:
            continue
        algorithm = normalize_algorithm(name)
        if algorithm is None:
            raise errors.InvalidRequest(f"The checksum algorithm of {name} is not supported.")
        if _decode_b64(value, _DIGEST_SIZE[algorithm]) is None:
            raise errors.InvalidRequest(f"Value for {name} header is invalid.")
        claimed[algorithm] = value.strip()
    return claimed


def _decode_b64(value: str, size: int) -> bytes | None:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


class ChecksumVerifier:
    """Computes every checksum a request asks for while it streams, checks them at the end.

    Build with `from_headers(headers, trailer_names)`, call `update(piece)` for each
    decoded body piece, then `finish(trailers)` once the body ended: it raises BadDigest on
    a mismatch and returns the computed checksums {algorithm: base64} (for storing and
    echoing back). Malformed values are rejected up front, before any byte is read.
    """

    def __init__(self, expected: dict[str, str | None], md5: bytes | None) -> None:
        self.expected = expected  # algorithm -> base64 value, or None when it comes in a trailer
        self._checksums = {alg: Checksum(alg) for alg in expected}
        self._md5_expected = md5
        self._md5 = hashlib.md5() if md5 is not None else None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], trailer_names: list[str] | tuple[str, ...] = (),
                     ) -> ChecksumVerifier:
        expected: dict[str, str | None] = dict(header_checksums(headers))
        for name in trailer_names:
            algorithm = normalize_algorithm(name) if name.startswith("x-amz-checksum-") else None
            if algorithm is None:
                raise errors.InvalidRequest(f"The value specified in the x-amz-trailer header "
                                   f"is not supported: {name}")
            expected.setdefault(algorithm, None)
        if len(expected) > 1:
            raise errors.InvalidRequest(SINGLE_CHECKSUM)
        sdk = headers.get("x-amz-sdk-checksum-algorithm")
        if sdk:
            algorithm = normalize_algorithm(sdk)
            if algorithm is None:
                raise errors.InvalidRequest("Value for x-amz-sdk-checksum-algorithm header is "
                                   "invalid.")
            if not expected:
                raise errors.InvalidRequest("x-amz-sdk-checksum-algorithm specified, but no "
                                   "corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
            if algorithm not in expected:
                raise errors.InvalidRequest("Value for x-amz-sdk-checksum-algorithm header is "
                                   "invalid.")
        md5 = None
        if "content-md5" in headers:
            md5 = _decode_b64(headers["content-md5"], 16)
            if md5 is None:
                raise errors.InvalidDigest("The Content-MD5 you specified is not valid.")
        return cls(expected, md5)

    @property
    def active(self) -> bool:
        return bool(self._checksums) or self._md5 is not None

    def update(self, data: bytes) -> None:
        for checksum in self._checksums.values():
            checksum.update(data)
        if self._md5 is not None:
            self._md5.update(data)

    def finish(self, trailers: Mapping[str, str] | None = None) -> dict[str, str]:
        if self._md5 is not None and self._md5_expected is not None:
            if not hmac.compare_digest(self._md5.digest(), self._md5_expected):
                raise errors.BadDigest("The Content-MD5 you specified did not match what we received.")
        computed: dict[str, str] = {}
        for algorithm, checksum in self._checksums.items():
            header = f"x-amz-checksum-{algorithm}"
            want = self.expected[algorithm]
            if want is None:
                want = (trailers or {}).get(header)
                if want is None:
                    raise errors.InvalidRequest(f"The trailer {header} was declared but not sent.")
                if _decode_b64(want, _DIGEST_SIZE[algorithm]) is None:
                    raise errors.InvalidRequest(f"Value for {header} trailing header is invalid.")
            got = checksum.b64digest()
            if not hmac.compare_digest(got.encode(), want.strip().encode()):
                raise errors.BadDigest(mismatch_message(algorithm))
            computed[algorithm] = got
        return computed
