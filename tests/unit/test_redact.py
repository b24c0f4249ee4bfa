"""What redact.py treats as a credential, in query strings and in free text."""

from __future__ import annotations

import json
import logging

from s3proxy.logs import formatter
from s3proxy.redact import REDACTED, redact_query, redact_text, redact_uri

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJlLXBhcnQ"


def test_query_values_of_credentials_are_replaced_and_the_rest_kept() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Signature=abc123&X-Amz-Security-Token=tok%2Ben&x-id=GetObject")
    out = redact_query(query)
    assert "abc123" not in out and "tok%2Ben" not in out
    assert f"X-Amz-Signature={REDACTED}" in out and f"X-Amz-Security-Token={REDACTED}" in out
    assert "X-Amz-Credential=AKID%2F20240101" in out and "x-id=GetObject" in out  # key ids are names
    assert redact_query("token=a.b.c&download=") == f"token={REDACTED}&download="
    assert redact_query("AWSAccessKeyId=key&Signature=x%2By%3D&Expires=1") == \
        f"AWSAccessKeyId=key&Signature={REDACTED}&Expires=1"
    assert redact_uri("/b/k?%74oken=x") == f"/b/k?%74oken={REDACTED}"  # an encoded name is still the name
    assert redact_uri("/plain/path") == "/plain/path"


def test_free_text_loses_headers_bearers_jwts_and_signature_parameters() -> None:
    cases = [
        f"Invalid header value 'Bearer {JWT}\\x01'",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=" + "a" * 64,
        "{'x-amz-security-token': 'FQoGZXIvYXdzEJr', 'host': 'x'}",
        "GET /b/k?X-Amz-Signature=deadbeef HTTP/1.1",
        "url=https%3A%2F%2Fh%2Fk%3FX-Amz-Signature%3Ddeadbeef",
        f"token {JWT} expired",
    ]
    for text in cases:
        out = redact_text(text)
        for secret in (JWT, "a" * 64, "FQoGZXIvYXdzEJr", "deadbeef"):
            assert secret not in out, (text, out)
    assert redact_text("GET /bucket/x 404 NoSuchBucket") == "GET /bucket/x 404 NoSuchBucket"


def test_both_log_formats_write_redacted_lines() -> None:
    record = logging.LogRecord("tornado.general", logging.INFO, __file__, 1, "bad header %r", (f"Bearer {JWT}",),
                               None)
    assert JWT not in formatter("text").format(record)
    line = formatter("json").format(record)
    assert JWT not in line and json.loads(line)["message"] == f"bad header 'Bearer {REDACTED}'"
