"""Checksums: published check values, bitwise reference implementations, botocore parity, verifier errors."""

from __future__ import annotations

import base64
import hashlib
import random
import types
import zlib

import pytest
from botocore.httpchecksum import Crc32Checksum, Sha1Checksum, Sha256Checksum

from s3proxy import errors
from s3proxy.auth import checksums
from s3proxy.auth.checksums import Checksum, ChecksumVerifier, new_checksum
from s3proxy.s3.errors import s3_error

CHECK = b"123456789"


def bitwise(data: bytes, poly: int, width: int) -> int:
    """Textbook reflected CRC, one bit at a time, init and xorout all ones."""
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ mask


def crc32c_ref(data: bytes) -> int:
    return bitwise(data, 0x82F63B78, 32)


def crc64_ref(data: bytes) -> int:
    return bitwise(data, 0x9A6C9329AC4BC9B5, 64)


def digest_of(algorithm: str, *parts: bytes) -> bytes:
    c = new_checksum(algorithm)
    for part in parts:
        c.update(part)
    return c.digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_published_check_values() -> None:
    assert digest_of("crc32", CHECK).hex() == "cbf43926"
    assert digest_of("CRC32C", CHECK).hex() == "e3069283"
    assert digest_of("crc64nvme", CHECK).hex() == "ae8b14860a799888"
    assert digest_of("x-amz-checksum-sha1", CHECK) == hashlib.sha1(CHECK).digest()
    assert digest_of("sha256", CHECK) == hashlib.sha256(CHECK).digest()
    assert digest_of("crc32c", b"").hex() == "00000000" and digest_of("crc64nvme", b"").hex() == "0" * 16


def test_rfc3720_crc32c_vectors() -> None:
    assert int.from_bytes(digest_of("crc32c", bytes(32)), "big") == 0x8A9136AA
    assert int.from_bytes(digest_of("crc32c", b"\xff" * 32), "big") == 0x62A8AB43
    assert int.from_bytes(digest_of("crc32c", bytes(range(32))), "big") == 0x46DD794E
    assert int.from_bytes(digest_of("crc32c", bytes(range(31, -1, -1))), "big") == 0x113FDB5C


@pytest.fixture(params=["awscrt", "pure-python"])
def crc_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with awscrt and again with the pure-Python fallback."""
    if request.param == "pure-python":
        monkeypatch.setattr(checksums, "accelerator", lambda: None)
    else:
        assert checksums.accelerator() is not None, "awscrt is a dependency"
    return str(request.param)


@pytest.mark.parametrize("seed", range(5))
def test_against_bitwise_reference_with_random_splits(seed: int, crc_mode: str) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(0, 3000))
    cuts = sorted(rng.randrange(0, len(data) + 1) for _ in range(4))
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert int.from_bytes(digest_of("crc32c", *parts), "big") == crc32c_ref(data)
    assert int.from_bytes(digest_of("crc64nvme", *parts), "big") == crc64_ref(data)
    assert int.from_bytes(digest_of("crc32", *parts), "big") == zlib.crc32(data)


def test_check_values_in_both_modes(crc_mode: str) -> None:
    assert digest_of("crc32c", CHECK[:4], CHECK[4:]).hex() == "e3069283"
    assert digest_of("crc64nvme", CHECK[:3], CHECK[3:]).hex() == "ae8b14860a799888"
    assert digest_of("crc32c", b"").hex() == "00000000" and digest_of("crc64nvme", b"").hex() == "0" * 16


def test_pure_python_agrees_with_awscrt_on_a_large_body(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    pieces = [rng.randbytes(rng.randrange(1, 70_000)) for _ in range(8)]
    fast = {a: digest_of(a, *pieces) for a in ("crc32c", "crc64nvme")}
    monkeypatch.setattr(checksums, "accelerator", lambda: None)
    assert {a: digest_of(a, *pieces) for a in ("crc32c", "crc64nvme")} == fast


def test_same_base64_as_botocore() -> None:
    data = random.Random(1).randbytes(100_000)
    for ours, theirs in (("crc32", Crc32Checksum), ("sha1", Sha1Checksum), ("sha256", Sha256Checksum)):
        ref = theirs()
        ref.update(data)
        c = Checksum(ours)
        c.update(data[:777])
        c.update(data[777:])
        assert c.b64digest() == ref.b64digest()


def test_awscrt_glue(monkeypatch: pytest.MonkeyPatch) -> None:
    """With awscrt present, its (data, previous_final_crc) API is chained the same way."""
    fake = types.SimpleNamespace(
        crc32c=lambda data, prev=0: crc32c_ref_continue(data, prev, 0x82F63B78, 32),
        crc64nvme=lambda data, prev=0: crc32c_ref_continue(data, prev, 0x9A6C9329AC4BC9B5, 64),
    )
    monkeypatch.setattr(checksums, "accelerator", lambda: fake)
    assert digest_of("crc32c", CHECK[:4], CHECK[4:]).hex() == "e3069283"
    assert digest_of("crc64nvme", CHECK[:3], CHECK[3:]).hex() == "ae8b14860a799888"


def crc32c_ref_continue(data: bytes, previous: int, poly: int, width: int) -> int:
    mask = (1 << width) - 1
    crc = previous ^ mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ mask


def test_unknown_algorithm() -> None:
    with pytest.raises(errors.Error) as info:
        new_checksum("md4")
    assert info.value.code == "InvalidRequest"


# -- verifier -----------------------------------------------------------------------------

DATA = b"some object bytes" * 100


def verifier(headers: dict[str, str], trailers: tuple[str, ...] = ()) -> ChecksumVerifier:
    v = ChecksumVerifier.from_headers(headers, trailers)
    v.update(DATA[:10])
    v.update(DATA[10:])
    return v


def error(fn, *args) -> errors.Error:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.Error) as info:
        fn(*args)
    return info.value


def test_header_checksums_match() -> None:
    for algorithm in ("crc32", "crc32c", "crc64nvme", "sha1", "sha256"):
        value = b64(digest_of(algorithm, DATA))
        v = verifier({f"x-amz-checksum-{algorithm}": value, "x-amz-sdk-checksum-algorithm": algorithm.upper(),
                      "x-amz-checksum-type": "FULL_OBJECT"})
        assert v.active and v.finish() == {algorithm: value}


def test_header_checksum_mismatch() -> None:
    v = verifier({"x-amz-checksum-crc32": b64(digest_of("crc32", b"other"))})
    err = error(v.finish)
    assert (err.code, s3_error(err).status) == ("BadDigest", 400)
    assert err.message == "The CRC32 you specified did not match the calculated checksum."  # AWS's wording


@pytest.mark.parametrize("headers", [
    {"x-amz-checksum-crc32": "not base64!"},
    {"x-amz-checksum-crc32": b64(b"12345")},  # wrong size
    {"x-amz-checksum-sha256": b64(b"1" * 31)},
    {"x-amz-checksum-crc32": b64(b"1234"), "x-amz-checksum-sha1": b64(b"1" * 20)},  # two algorithms
    {"x-amz-sdk-checksum-algorithm": "CRC32"},  # algorithm without a value
    {"x-amz-sdk-checksum-algorithm": "SHA1", "x-amz-checksum-crc32": b64(b"1234")},
    {"x-amz-sdk-checksum-algorithm": "MD4", "x-amz-checksum-crc32": b64(b"1234")},
    {"x-amz-checksum-xxhash64": b64(b"12345678")},
])
def test_malformed_checksum_headers(headers: dict[str, str]) -> None:
    assert error(ChecksumVerifier.from_headers, headers).code == "InvalidRequest"


def test_content_md5() -> None:
    good = b64(hashlib.md5(DATA).digest())
    assert verifier({"content-md5": good}).finish() == {}
    err = error(verifier({"content-md5": b64(hashlib.md5(b"x").digest())}).finish)
    assert (err.code, err.message) == ("BadDigest", "The Content-MD5 you specified did not match what we received.")
    for bad in ("zzz", b64(b"short"), good + "AA"):
        assert error(ChecksumVerifier.from_headers, {"content-md5": bad}).code == "InvalidDigest"


def test_trailer_checksums() -> None:
    value = b64(digest_of("crc32c", DATA))
    v = verifier({}, ("x-amz-checksum-crc32c",))
    assert v.finish({"x-amz-checksum-crc32c": value}) == {"crc32c": value}
    assert error(verifier({}, ("x-amz-checksum-crc32c",)).finish, {}).code == "InvalidRequest"
    assert error(verifier({}, ("x-amz-checksum-crc32c",)).finish, {"x-amz-checksum-crc32c": "@@"}).code \
        == "InvalidRequest"
    wrong = b64(digest_of("crc32c", b"other"))
    assert error(verifier({}, ("x-amz-checksum-crc32c",)).finish, {"x-amz-checksum-crc32c": wrong}).code \
        == "BadDigest"
    assert error(ChecksumVerifier.from_headers, {}, ("x-amz-meta-foo",)).code == "InvalidRequest"


def test_nothing_requested() -> None:
    v = verifier({})
    assert not v.active and v.finish() == {}


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme"])
def test_combined_crc_is_the_crc_of_the_concatenation(algorithm: str) -> None:
    rng = random.Random(4)
    pieces = [rng.randbytes(n) for n in (1, 5000, 77, 65536)]
    claimed = [(b64(digest_of(algorithm, p)), len(p)) for p in pieces]
    assert checksums.combine_crcs(algorithm, claimed) == b64(digest_of(algorithm, *pieces))
    with pytest.raises(errors.Error):
        checksums.combine_crcs(algorithm, [("not base64!", 3)])


@pytest.mark.parametrize(("algorithm", "kind", "expected"), [
    (None, None, None),
    ("SHA256", None, ("sha256", "COMPOSITE")),
    ("crc32", "full_object", ("crc32", "FULL_OBJECT")),
    ("CRC32C", None, ("crc32c", "COMPOSITE")),
    ("CRC64NVME", None, ("crc64nvme", "FULL_OBJECT")),
])
def test_multipart_checksum_choices(algorithm: str | None, kind: str | None,
                                    expected: tuple[str, str] | None) -> None:
    assert checksums.multipart_checksum(algorithm, kind) == expected


@pytest.mark.parametrize(("algorithm", "kind", "message"), [
    ("SHA1", "FULL_OBJECT", "The FULL_OBJECT checksum type cannot be used with the sha1 checksum algorithm."),
    ("CRC64NVME", "COMPOSITE", "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."),
    (None, "COMPOSITE", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
                        "header."),
    ("MD5", None, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: "
                  "[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"),
    ("CRC32", "PARTIAL", "Value for x-amz-checksum-type header is invalid."),
])
def test_multipart_checksum_refusals(algorithm: str | None, kind: str, message: str) -> None:
    err = error(lambda: checksums.multipart_checksum(algorithm, kind))
    assert (err.code, err.message) == ("InvalidRequest", message)


def test_composite_checksum_is_the_checksum_of_the_parts_checksums() -> None:
    parts = [b"first part", b"second", b"3"]
    sha = [base64.b64encode(hashlib.sha256(p).digest()).decode() for p in parts]
    joined = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert checksums.composite_checksum("sha256", sha) == base64.b64encode(joined).decode() + "-3"
    crcs = [base64.b64encode(zlib.crc32(p).to_bytes(4, "big")).decode() for p in parts]
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    assert checksums.composite_checksum("crc32", crcs) == base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-3"
