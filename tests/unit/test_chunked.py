"""aws-chunked decoding: AWS's documented signed example, botocore's trailer encoder, and failures."""

from __future__ import annotations

import asyncio
import base64
import calendar
import dataclasses
import hashlib
import hmac
import io
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from s3proxy import errors
from s3proxy.auth.chunked import AwsChunkedDecoder, RequestBody, stored_content_encoding
from s3proxy.auth.sigv4 import AuthResult, SignedRequest, verify
from s3proxy.s3.errors import s3_error

DOC_AK, DOC_SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = calendar.timegm((2013, 5, 24, 0, 0, 0))
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGS = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]
EMPTY = hashlib.sha256(b"").hexdigest()


def doc_headers(decoded: int = 66560, payload: str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") -> dict[str, str]:
    return {"x-amz-content-sha256": payload, "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(decoded)}


def doc_auth() -> AuthResult:
    """The seed request of AWS's 'Transferring Payload in Multiple Chunks' example, verified."""
    req = SignedRequest.from_parts("PUT", "/examplebucket/chunkObject.txt", "", [
        ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"), *doc_headers().items(), ("Content-Length", "66824"),
        ("Authorization", f"AWS4-HMAC-SHA256 Credential={DOC_AK}/20130524/us-east-1/s3/aws4_request,"
         "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
         f"x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}")])
    return verify(req, lambda _k: DOC_SK, now=DOC_NOW)


def doc_body(sigs: list[str] = DOC_SIGS) -> bytes:
    out = b""
    for size, sig in zip((65536, 1024, 0), sigs, strict=True):
        out += b"%x;chunk-signature=%s\r\n%s\r\n" % (size, sig.encode(), b"a" * size)
    return out


def sign_chunks(auth: AuthResult, chunks: Iterable[bytes]) -> tuple[list[str], str]:
    """Chunk signatures computed by hand from the AWS spec (not with the code under test)."""
    prev, sigs = auth.seed_signature, []
    for chunk in chunks:
        sts = (f"AWS4-HMAC-SHA256-PAYLOAD\n{auth.date}\n{auth.scope}\n{prev}\n{EMPTY}\n"
               f"{hashlib.sha256(chunk).hexdigest()}")
        prev = hmac.new(auth.signing_key, sts.encode(), hashlib.sha256).hexdigest()
        sigs.append(prev)
    return sigs, prev


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def collect(stream: Any) -> bytes:
    return b"".join([piece async for piece in stream])


def run(stream: Any) -> bytes:
    return asyncio.run(collect(stream))


def fails(stream: Any) -> errors.Error:
    with pytest.raises(errors.Error) as info:
        run(stream)
    return info.value


@pytest.mark.parametrize("piece", [1, 7, 4096, 65536, 1 << 20])
def test_aws_doc_example_any_piece_size(piece: int) -> None:
    auth = doc_auth()
    dec = AwsChunkedDecoder(pieces(doc_body(), piece), signed=True, auth=auth, decoded_length=66560)
    assert run(dec) == b"a" * 66560
    assert dec.complete and dec.trailers == {}
    assert len(doc_body()) == 66824  # the documented Content-Length


def test_request_body_with_doc_example() -> None:
    body = RequestBody(pieces(doc_body(), 8192), auth=doc_auth(), headers=doc_headers())
    assert body.length == 66560
    assert run(body) == b"a" * 66560 and body.size == 66560


def test_bad_signature_in_second_chunk() -> None:
    auth = doc_auth()
    sigs = [DOC_SIGS[0], DOC_SIGS[1][:-1] + "0", DOC_SIGS[2]]
    dec = AwsChunkedDecoder(pieces(doc_body(sigs), 1000), signed=True, auth=auth, decoded_length=66560)
    seen: list[bytes] = []

    async def consume() -> None:
        async for piece in dec:
            seen.append(piece)

    with pytest.raises(errors.Error) as info:
        asyncio.run(consume())
    assert info.value.code == "SignatureDoesNotMatch"
    # data streams before its chunk is verified; the error comes before the end of iteration
    assert len(b"".join(seen)) >= 65536 and not dec.complete


def test_tampered_data_and_final_chunk() -> None:
    auth = doc_auth()
    body = bytearray(doc_body())
    body[200] = ord("b")
    assert fails(AwsChunkedDecoder(pieces(bytes(body), 4096), signed=True, auth=auth)).code \
        == "SignatureDoesNotMatch"
    bad_final = doc_body([DOC_SIGS[0], DOC_SIGS[1], DOC_SIGS[1]])
    assert fails(AwsChunkedDecoder(pieces(bad_final, 4096), signed=True, auth=auth)).code \
        == "SignatureDoesNotMatch"


@pytest.mark.parametrize("cut", [10, 100, 40000, 66700, 66800])
def test_truncated_body(cut: int) -> None:
    dec = AwsChunkedDecoder(pieces(doc_body()[:cut], 4096), signed=True, auth=doc_auth(), decoded_length=66560)
    assert fails(dec).code == "IncompleteBody"


def test_missing_final_crlf_is_tolerated() -> None:
    """Some SDKs end right after the last chunk line; every byte is verified by then."""
    dec = AwsChunkedDecoder(pieces(doc_body()[:-2], 4096), signed=True, auth=doc_auth(), decoded_length=66560)
    assert run(dec) == b"a" * 66560 and dec.complete


@pytest.mark.parametrize("declared", [66559, 66561, 0])
def test_decoded_length_mismatch(declared: int) -> None:
    dec = AwsChunkedDecoder(pieces(doc_body(), 4096), signed=True, auth=doc_auth(), decoded_length=declared)
    err = fails(dec)
    assert (err.code, s3_error(err).status) == ("IncompleteBody", 400)


@pytest.mark.parametrize("body", [
    b"zz;chunk-signature=" + b"0" * 64 + b"\r\n",  # not hex
    b"3\r\nabc\r\n0\r\n\r\n",  # signed mode without signatures
    b"1;chunk-signature=" + DOC_SIGS[0].encode() + b"\r\naXX",  # data not followed by CRLF
    b"1" * 5000,  # runaway header line
])
def test_malformed_framing(body: bytes) -> None:
    assert fails(AwsChunkedDecoder(pieces(body, 100), signed=True, auth=doc_auth())).code == "InvalidRequest"


def test_chunk_too_large_and_trailing_garbage() -> None:
    dec = AwsChunkedDecoder(pieces(doc_body(), 4096), signed=True, auth=doc_auth(), max_chunk=32768)
    assert fails(dec).code == "InvalidRequest"
    dec = AwsChunkedDecoder(pieces(doc_body() + b"junk", 4096), signed=True, auth=doc_auth())
    assert fails(dec).code == "InvalidRequest"


def test_pieces_stay_bounded() -> None:
    data = bytes(range(256)) * 8192  # 2 MiB in one chunk
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)
    dec = AwsChunkedDecoder(pieces(framed, 65536), signed=False, auth=None, decoded_length=len(data))

    async def sizes() -> list[int]:
        out = []
        async for piece in dec:
            out.append(len(piece))
        return out

    got = asyncio.run(sizes())
    assert sum(got) == len(data) and max(got) <= 65536


# -- trailers ---------------------------------------------------------------------------

def botocore_trailer_body(data: bytes, chunk_size: int = 10000) -> bytes:
    wrapper = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum,
                                checksum_name="x-amz-checksum-crc32", chunk_size=chunk_size)
    return wrapper.read()


def trailer_headers(data: bytes) -> dict[str, str]:
    return {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked",
            "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": str(len(data)),
            "x-amz-sdk-checksum-algorithm": "CRC32"}


def test_botocore_signed_request_with_unsigned_trailer() -> None:
    """The whole way recent botocore uploads: header-signed request, aws-chunked body, CRC32 trailer."""
    data = b"hello trailer " * 5000
    req = AWSRequest(method="PUT", url="http://127.0.0.1:5000/s3/bucket/key",
                     headers={k: v for k, v in trailer_headers(data).items() if k != "x-amz-content-sha256"},
                     data=botocore_trailer_body(data))
    req.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32",
                                                     "name": "x-amz-checksum-crc32"}}
    S3SigV4Auth(Credentials("AK", "SK"), "s3", "us-east-1").add_auth(req)
    signed = SignedRequest.from_parts("PUT", "/s3/bucket/key", "",
                                      [*req.headers.items(), ("Host", "127.0.0.1:5000")])
    auth = verify(signed, lambda _k: "SK")
    assert auth.payload_hash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    body = RequestBody(pieces(req.body, 3000), auth=auth, headers=signed.headers)
    assert run(body) == data
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert body.checksums == {"crc32": crc} and body.trailers == {"x-amz-checksum-crc32": crc}
    assert stored_content_encoding(signed.headers.get("content-encoding")) is None


def test_bad_trailer_checksum() -> None:
    data = b"x" * 50000
    framed = botocore_trailer_body(data)
    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))
    framed = framed.replace(good, base64.b64encode(zlib.crc32(data + b"!").to_bytes(4, "big")))
    err = fails(RequestBody(pieces(framed, 4096), auth=None, headers=trailer_headers(data)))
    assert err.code == "BadDigest"
    assert err.message == "The CRC32 you specified did not match the calculated checksum."


def test_trailer_undeclared_or_missing() -> None:
    data = b"y" * 100
    framed = botocore_trailer_body(data)
    other = dict(trailer_headers(data), **{"x-amz-trailer": "x-amz-checksum-sha256"})
    other.pop("x-amz-sdk-checksum-algorithm")
    assert fails(RequestBody(pieces(framed, 64), auth=None, headers=other)).code == "InvalidRequest"
    no_trailer = b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)
    assert fails(RequestBody(pieces(no_trailer, 64), auth=None, headers=trailer_headers(data))).code \
        == "InvalidRequest"


def signed_trailer_body(auth: AuthResult, data: bytes, trailer: bytes) -> bytes:
    chunks = [data[:70000], data[70000:], b""]
    sigs, last = sign_chunks(auth, chunks)
    out = b"".join(b"%x;chunk-signature=%s\r\n%s" % (len(c), s.encode(), c + b"\r\n" if c else b"")
                   for c, s in zip(chunks, sigs, strict=True))
    canonical = trailer.replace(b"\r\n", b"\n")  # trailer lines are signed as 'name:value\n'
    sts = (f"AWS4-HMAC-SHA256-TRAILER\n{auth.date}\n{auth.scope}\n{last}\n"
           f"{hashlib.sha256(canonical).hexdigest()}")
    trailer_sig = hmac.new(auth.signing_key, sts.encode(), hashlib.sha256).hexdigest()
    return out + trailer + b"x-amz-trailer-signature:%s\r\n\r\n" % trailer_sig.encode()


def test_signed_trailer() -> None:
    auth = dataclasses.replace(doc_auth(), payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
    data = bytes(range(256)) * 400
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big"))
    headers = dict(doc_headers(len(data), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
                   **{"x-amz-trailer": "x-amz-checksum-crc32"})
    framed = signed_trailer_body(auth, data, b"x-amz-checksum-crc32:" + crc + b"\r\n")
    body = RequestBody(pieces(framed, 5000), auth=auth, headers=headers)
    assert run(body) == data and body.checksums["crc32"] == crc.decode()
    # a trailer changed after signing: the trailer signature no longer matches
    tampered = framed.replace(crc, base64.b64encode(b"\0\0\0\0"))
    assert fails(RequestBody(pieces(tampered, 5000), auth=auth, headers=headers)).code == "SignatureDoesNotMatch"
    # and without the trailer signature
    stripped = framed[:framed.index(b"x-amz-trailer-signature")] + b"\r\n"
    assert fails(RequestBody(pieces(stripped, 5000), auth=auth, headers=headers)).code == "SignatureDoesNotMatch"


def test_plain_bodies() -> None:
    data = b"plain body"
    sha = hashlib.sha256(data).hexdigest()
    auth = AuthResult("AK", None, b"k", "20130524T000000Z", "s", "sig", sha, False)
    headers = {"content-length": str(len(data)),
               "content-md5": base64.b64encode(hashlib.md5(data).digest()).decode()}
    body = RequestBody(pieces(data, 3), auth=auth, headers=headers)
    assert run(body) == data and body.length == len(data)
    assert fails(RequestBody(pieces(data + b"!", 3), auth=auth, headers={})).code == "XAmzContentSHA256Mismatch"
    wrong_md5 = dict(headers, **{"content-md5": base64.b64encode(b"0" * 16).decode()})
    assert fails(RequestBody(pieces(data, 3), auth=auth, headers=wrong_md5)).code == "BadDigest"
    short = dict(headers, **{"content-length": "11"})
    assert fails(RequestBody(pieces(data, 3), auth=auth, headers=short)).code == "IncompleteBody"
    with pytest.raises(errors.Error) as info:
        RequestBody(pieces(data, 3), auth=auth, headers={"content-md5": "nope"})
    assert info.value.code == "InvalidDigest"
    with pytest.raises(errors.Error) as info:
        RequestBody(pieces(b"", 1), auth=None, headers=doc_headers())
    assert info.value.code == "AccessDenied"
