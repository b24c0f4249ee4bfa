"""The error classes and the two protocol tables cannot drift apart: every class is in
both tables, and every class is raised somewhere (a table row for an error nobody
raises is dead weight that misleads the reader)."""

from __future__ import annotations

import re
from pathlib import Path

from s3proxy import errors
from s3proxy.rest import errors as rest_errors
from s3proxy.s3 import errors as s3_errors

SOURCE = Path(__file__).resolve().parents[2] / "s3proxy"


def test_every_error_class_has_a_rest_and_an_s3_answer() -> None:
    classes = set(errors.all_codes())
    assert classes - set(rest_errors.TABLE) == set()
    assert classes - set(s3_errors.TABLE) == set()
    assert set(rest_errors.TABLE) - classes == set()
    assert set(s3_errors.TABLE) - classes == set()


def test_every_error_class_is_raised_somewhere() -> None:
    text = "\n".join(p.read_text() for p in SOURCE.rglob("*.py"))
    used = set(re.findall(r"errors\.([A-Z][A-Za-z0-9]+)\(", text))
    used |= set(re.findall(r"\b([A-Z][A-Za-z0-9]+)\[code\]\(", text))  # looked up by an upstream's code
    raised_by_table = {cls.__name__ for cls in errors.all_codes()
                       if re.search(rf"errors\.{cls.__name__}\b", (SOURCE / "backends" / "s3.py").read_text())}
    unused = {cls.__name__ for cls in errors.all_codes()} - used - raised_by_table
    assert unused == set()


def test_rest_envelope_rule() -> None:
    """HTTP 400 for handled errors below 500, the real status in the body."""
    assert rest_errors.rest_status(errors.NoSuchKey()) == 400
    assert rest_errors.rest_body(errors.NoSuchKey()) == {
        "statusCode": "404", "error": "not_found", "message": "Object not found", "code": "NoSuchKey"}
    assert rest_errors.rest_status(errors.InternalError()) == 500
    assert rest_errors.rest_body(errors.BucketNotEmpty())["code"] == "ResourceNotEmpty"


def test_s3_codes_are_aws_codes() -> None:
    assert s3_errors.s3_error(errors.BucketNotEmpty()).code == "BucketNotEmpty"
    assert s3_errors.s3_error(errors.InvalidSignature()) == ("SignatureDoesNotMatch", 403,
                                                             errors.InvalidSignature.default_message)
    assert s3_errors.s3_error(errors.DatabaseTimeout()).status == 503
