"""POST policy verification against forms built by boto3's generate_presigned_post."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from s3proxy import errors
from s3proxy.auth import post_policy
from s3proxy.auth.post_policy import form_fields, is_signed, verify
from s3proxy.s3.errors import s3_error

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
BUCKET = "uploads"


def secrets(key: str) -> str | None:
    return SK if key == AK else None


def error_of(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> errors.Error:
    with pytest.raises(errors.Error) as info:
        fn(*args, **kwargs)
    return info.value


def presigned_post(key: str = "user/${filename}", fields: dict[str, str] | None = None,
                   conditions: list[Any] | None = None, expires: int = 600, version: str = "s3v4",
                   token: str | None = None) -> dict[str, str]:
    client = boto3.client("s3", endpoint_url="http://localhost:5000/s3", region_name="eu-central-1",
                          aws_access_key_id=AK, aws_secret_access_key=SK, aws_session_token=token,
                          config=Config(signature_version=version, s3={"addressing_style": "path"}))
    post = client.generate_presigned_post(BUCKET, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
    assert post["url"].endswith("/s3/" + BUCKET)
    return dict(post["fields"])


def check(fields: dict[str, str], *, bucket: str = BUCKET, filename: str = "photo.png",
          now: float | None = None) -> post_policy.PostUpload:
    return verify(form_fields(fields.items()), secrets, bucket=bucket, filename=filename, now=now)


def handmade(policy: Any, extra: dict[str, str] | None = None, *, key: str = "k",
             wrap: int = 0) -> dict[str, str]:
    """A SigV4 form over an arbitrary policy (a document, or raw JSON text), signed here
    with the HMAC chain written out, independently of the module under test. `wrap`
    breaks the base64 into lines, as some encoders do."""
    text = policy if isinstance(policy, str) else json.dumps(policy)
    encoded = base64.b64encode(text.encode()).decode()
    if wrap:
        encoded = "\n".join(encoded[i:i + wrap] for i in range(0, len(encoded), wrap))
    day = time.strftime("%Y%m%d", time.gmtime())
    signing = ("AWS4" + SK).encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    return {"key": key, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": f"{AK}/{day}/us-east-1/s3/aws4_request",
            "x-amz-date": day + "T000000Z", "policy": encoded,
            "x-amz-signature": hmac.new(signing, encoded.encode(), hashlib.sha256).hexdigest(), **(extra or {})}


def policy_doc(*conditions: Any, expiration: str | None = None) -> dict[str, Any]:
    later = expiration or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 600))
    day = time.strftime("%Y%m%d", time.gmtime())
    auth = [{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": f"{AK}/{day}/us-east-1/s3/aws4_request"},
            {"x-amz-date": day + "T000000Z"}]
    return {"expiration": later, "conditions": [{"bucket": BUCKET}, {"key": "k"}, *auth, *conditions]}


# -- boto3 forms ---------------------------------------------------------------------------

FULL_FIELDS = {"acl": "public-read", "Content-Type": "image/png", "success_action_status": "201",
               "Cache-Control": "max-age=60", "x-amz-meta-uuid": "14365123651274", "x-amz-meta-tag": "anything",
               "success_action_redirect": "https://example.com/done", "x-amz-storage-class": "STANDARD"}
FULL_CONDITIONS: list[Any] = [
    {"acl": "public-read"},
    ["eq", "$success_action_status", "201"],
    ["starts-with", "$Content-Type", "image/"],
    ["starts-with", "$x-amz-meta-tag", ""],
    {"x-amz-meta-uuid": "14365123651274"},
    ["starts-with", "$success_action_redirect", "https://example.com/"],
    ["eq", "$Cache-Control", "max-age=60"],
    {"x-amz-storage-class": "STANDARD"},
    ["content-length-range", 10, 100],
]


def test_every_condition_type() -> None:
    fields = presigned_post(fields=FULL_FIELDS, conditions=FULL_CONDITIONS)
    upload = check(fields, filename="ü photo.png")
    assert (upload.access_key_id, upload.session_token) == (AK, None)
    assert upload.key == "user/ü photo.png" and upload.fields["key"] == "user/ü photo.png"
    assert upload.fields["content-type"] == "image/png" and upload.fields["x-amz-meta-uuid"] == "14365123651274"
    assert (upload.min_size, upload.max_size) == (10, 100)


def test_size_range_is_enforced_while_streaming() -> None:
    upload = check(presigned_post(fields=FULL_FIELDS, conditions=FULL_CONDITIONS))
    for size in (0, 9, 10, 100):
        upload.check_size(size)
    for size in (10, 55, 100):
        upload.check_size(size, final=True)
    err = error_of(upload.check_size, 101)
    assert (err.code, s3_error(err).status) == ("EntityTooLarge", 413)
    err = error_of(upload.check_size, 9, final=True)
    assert (err.code, s3_error(err).status) == ("EntityTooSmall", 400)
    unlimited = check(presigned_post(key="k"), filename="")
    assert (unlimited.min_size, unlimited.max_size) == (0, None)
    unlimited.check_size(10**12, final=True)


def test_several_ranges_all_apply() -> None:
    fields = presigned_post(key="k", conditions=[["content-length-range", "5", "50"],
                                                 ["content-length-range", 1, 100]])
    upload = check(fields)
    assert (upload.min_size, upload.max_size) == (5, 50)


def test_exact_key_and_session_token() -> None:
    fields = presigned_post(key="exact/key.txt", token="user.jwt")
    upload = check(fields, filename="ignored.bin")
    assert (upload.key, upload.session_token) == ("exact/key.txt", "user.jwt")
    fields["key"] = "exact/other.txt"
    err = error_of(check, fields)
    assert (err.code, s3_error(err).status) == ("AccessDenied", 403)
    assert err.message == 'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "exact/key.txt"]'


def test_field_names_case_insensitive_values_case_sensitive() -> None:
    fields = presigned_post(fields=FULL_FIELDS, conditions=FULL_CONDITIONS)
    renamed = {("ACL" if k == "acl" else k.upper() if k.startswith("x-amz-") or k == "policy" else k): v
               for k, v in fields.items()}
    assert "X-AMZ-SIGNATURE" in renamed and "POLICY" in renamed
    check(renamed)
    err = error_of(check, {**fields, "acl": "Public-Read"})
    assert err.message.endswith('["eq", "$acl", "public-read"]')


def test_starts_with_mismatch_and_filename_substitution() -> None:
    fields = presigned_post(fields=FULL_FIELDS, conditions=FULL_CONDITIONS)
    check(fields, filename="")  # key "user/": still starts with "user/"
    err = error_of(check, {**fields, "key": "other/${filename}"})
    assert err.message == 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/"]'
    err = error_of(check, {**fields, "Content-Type": "text/html"})
    assert err.message.endswith('["starts-with", "$Content-Type", "image/"]')
    # ${filename} is substituted before the conditions: a filename cannot escape the prefix
    fields = presigned_post(key="${filename}", conditions=[["starts-with", "$key", "safe/"]])
    assert error_of(check, fields, filename="x").code == "AccessDenied"


def test_content_type_list_each_must_match() -> None:
    fields = presigned_post(key="k", fields={"Content-Type": "image/png, image/jpeg"},
                            conditions=[["starts-with", "$Content-Type", "image/"]])
    check(fields)
    fields["Content-Type"] = "image/png, text/html"
    assert error_of(check, fields).code == "AccessDenied"


def test_condition_on_absent_field_fails_even_starts_with_empty() -> None:
    fields = presigned_post(key="k", conditions=[["starts-with", "$x-amz-meta-tag", ""]])
    err = error_of(check, fields)
    assert err.message.endswith('["starts-with", "$x-amz-meta-tag", ""]')
    check({**fields, "x-amz-meta-tag": ""})


def test_uncovered_fields() -> None:
    fields = presigned_post(key="k", fields={"acl": "private"}, conditions=[{"acl": "private"}])
    check({**fields, "x-ignore-submit": "Upload", "X-Ignore-Other": "1", "file": "inline text"})
    for extra in ({"x-amz-meta-extra": "1"}, {"Content-Type": "text/html"}, {"success_action_status": "200"},
                  {"redirect": "https://evil.example"}):
        err = error_of(check, {**fields, **extra})
        name = next(iter(extra)).lower()
        assert (err.code, s3_error(err).status) == ("AccessDenied", 403)
        assert err.message == f"Invalid according to Policy: Extra input fields: {name}"
    err = error_of(check, {**fields, "AWSAccessKeyId": AK})  # a SigV2 field in a SigV4 form
    assert (err.code, s3_error(err).status) == ("InvalidArgument", 400) and "Only one auth mechanism" in err.message


def test_bucket_must_match_and_be_covered() -> None:
    fields = presigned_post(key="k")
    err = error_of(check, fields, bucket="other")
    assert err.message == f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{BUCKET}"]'
    assert error_of(check, {**fields, "bucket": "other"}).code == "InvalidArgument"
    check({**fields, "bucket": BUCKET})
    no_bucket = policy_doc()
    no_bucket["conditions"].pop(0)
    err = error_of(check, handmade(no_bucket), filename="")
    assert err.message == "Invalid according to Policy: Extra input fields: bucket"


def test_expired_policy() -> None:
    fields = presigned_post(key="k", expires=60)
    check(fields, now=time.time() + 50)
    err = error_of(check, fields, now=time.time() + 61)
    assert (err.code, s3_error(err).status, err.message) == ("AccessDenied", 403,
                                                   "Invalid according to Policy: Policy expired.")


def test_tampering() -> None:
    fields = presigned_post(fields=FULL_FIELDS, conditions=FULL_CONDITIONS)
    doc = json.loads(base64.b64decode(fields["policy"]))
    doc["conditions"][0] = {"acl": "public-read-write"}
    loosened = base64.b64encode(json.dumps(doc).encode()).decode()
    signature = fields["x-amz-signature"]
    for forged in ({**fields, "policy": loosened}, {**fields, "x-amz-signature": signature[:-1] + "0"},
                   {**fields, "x-amz-signature": signature.upper()[:-2] + "é"},
                   {**fields, "x-amz-credential": fields["x-amz-credential"].replace("eu-central-1", "us-east-1")}):
        err = error_of(check, forged)
        assert (err.code, s3_error(err).status) == ("SignatureDoesNotMatch", 403)
    check({**fields, "x-amz-signature": signature.upper()})  # hex: case does not matter
    assert error_of(verify, form_fields(fields.items()), lambda _k: "other", bucket=BUCKET).code == \
        "SignatureDoesNotMatch"
    assert error_of(verify, form_fields(fields.items()), lambda _k: None, bucket=BUCKET).code == \
        "InvalidAccessKeyId"


def test_sigv2_form() -> None:
    fields = presigned_post(key="k", version="s3", token="tok", fields={"acl": "private"},
                            conditions=[{"acl": "private"}])
    assert {"AWSAccessKeyId", "signature", "policy"} <= set(fields)
    upload = check(fields)
    assert (upload.access_key_id, upload.session_token, upload.key) == (AK, "tok", "k")
    doc = json.loads(base64.b64decode(fields["policy"]))
    doc["conditions"].append(["starts-with", "$x-amz-meta-a", ""])
    err = error_of(check, {**fields, "policy": base64.b64encode(json.dumps(doc).encode()).decode()})
    assert err.code == "SignatureDoesNotMatch"
    assert error_of(check, {**fields, "x-amz-signature": "00"}).code == "InvalidArgument"  # two mechanisms


def test_operators_and_policy_field_names_case_insensitive() -> None:
    doc = policy_doc(["StArTs-WiTh", "$CoNtEnT-TyPe", "text/"], {"AcL": "private"}, ["EQ", "$X-Amz-Meta-A", "1"])
    check(handmade(doc, {"content-type": "text/plain", "ACL": "private", "x-amz-meta-a": "1"}), filename="")


def test_form_fields() -> None:
    assert form_fields([("Key", "a"), ("X-Amz-Meta-A", "b")]) == {"key": "a", "x-amz-meta-a": "b"}
    err = error_of(form_fields, [("key", "a"), ("KEY", "b")])
    assert (err.code, s3_error(err).status) == ("MalformedPOSTRequest", 400)
    err = error_of(form_fields, [("key", "a"), ("x-amz-meta-big", "x" * post_policy.MAX_PRE_DATA)])
    assert (err.code, s3_error(err).status) == ("MaxPostPreDataLengthExceeded", 400)
    assert not is_signed(form_fields([("key", "k"), ("acl", "public-read")]))
    assert is_signed({"policy": "x"}) and is_signed({"awsaccesskeyid": "a"}) and is_signed({"x-amz-credential": "c"})


@pytest.mark.parametrize("missing", ["policy", "key", "x-amz-signature", "x-amz-credential", "x-amz-date",
                                     "x-amz-algorithm"])
def test_missing_fields(missing: str) -> None:
    fields = {k: v for k, v in presigned_post(key="k").items() if k != missing}
    err = error_of(check, fields)
    assert (err.code, s3_error(err).status) == ("InvalidArgument", 400)
    assert err.message.startswith(f"Bucket POST must contain a field named '{missing}'.")


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("x-amz-algorithm", "AWS4-HMAC-SHA1", "X-Amz-Algorithm only supports"),
    ("x-amz-credential", "AKID/2024/us-east-1/s3/aws4_request", "Error parsing the X-Amz-Credential"),
    ("x-amz-credential", f"{AK}/20240101/us-east-1/sts/aws4_request", "Error parsing the X-Amz-Credential"),
    ("x-amz-date", "2024-01-01T00:00:00Z", "X-Amz-Date must be"),
    ("x-amz-date", "19990101T000000Z", "X-Amz-Date must be"),
])
def test_malformed_v4_fields(name: str, value: str, expected: str) -> None:
    err = error_of(check, {**presigned_post(key="k"), name: value})
    assert (err.code, s3_error(err).status) == ("InvalidArgument", 400) and err.message.startswith(expected)


LATER = "2099-01-01T00:00:00Z"


@pytest.mark.parametrize(("policy", "expected"), [
    ("not json at all", "Invalid JSON."),
    ('{"expiration": "LATER", "conditions": [], }'.replace("LATER", LATER), "Invalid JSON."),
    ('{"expiration": "LATER", "conditions": [["content-length-range", 0, NaN]]}'.replace("LATER", LATER),
     "Invalid JSON."),
    ('{"expiration": "LATER", "expiration": "LATER", "conditions": []}'.replace("LATER", LATER),
     "Duplicate key 'expiration'."),
    ('["expiration", "conditions"]', "Invalid JSON."),
    ({"conditions": []}, "Policy missing expiration."),
    ({"expiration": LATER}, "Policy missing conditions."),
    ({"expiration": LATER, "CONDITIONS": []}, "Policy missing conditions."),
    ({"expiration": LATER, "conditions": [], "extra": 1}, "Unexpected field 'extra'."),
    ({"expiration": "2099-01-01 00:00:00.123+00:00", "conditions": []}, "Invalid 'expiration' value"),
    ({"expiration": "2099-13-01T00:00:00Z", "conditions": []}, "Invalid 'expiration' value"),
    ({"expiration": 4070908800, "conditions": []}, "Invalid 'expiration' value"),
    ({"expiration": LATER, "conditions": {"bucket": "b"}}, "Invalid 'conditions' value"),
    ({"expiration": LATER, "conditions": [{}]}, "Invalid Simple-Condition"),
    ({"expiration": LATER, "conditions": [{"bucket": "b", "key": "k"}]}, "Invalid Simple-Condition"),
    ({"expiration": LATER, "conditions": [{"success_action_status": 201}]}, "Invalid Simple-Condition"),
    ({"expiration": LATER, "conditions": [["eq", "key", "k"]]}, "Invalid 'eq' condition"),
    ({"expiration": LATER, "conditions": [["starts-with", "$key"]]}, "Invalid 'starts-with' condition"),
    ({"expiration": LATER, "conditions": [["starts-with", "$", ""]]}, "Invalid 'starts-with' condition"),
    ({"expiration": LATER, "conditions": [["ends-with", "$key", "x"]]}, "Invalid Condition"),
    ({"expiration": LATER, "conditions": ["bucket"]}, "Invalid Condition"),
    ({"expiration": LATER, "conditions": [["content-length-range", 0]]}, "Invalid 'content-length-range'"),
    ({"expiration": LATER, "conditions": [["content-length-range", -1, 0]]}, "Invalid 'content-length-range'"),
    ({"expiration": LATER, "conditions": [["content-length-range", 5, 1]]}, "Invalid 'content-length-range'"),
    ({"expiration": LATER, "conditions": [["content-length-range", "a", "b"]]}, "Invalid 'content-length-range'"),
    ({"expiration": LATER, "conditions": [["content-length-range", True, 5]]}, "Invalid 'content-length-range'"),
])
def test_malformed_policies(policy: Any, expected: str) -> None:
    err = error_of(check, handmade(policy))
    assert (err.code, s3_error(err).status) == ("InvalidPolicyDocument", 400)
    assert err.message.startswith("Invalid Policy: " + expected)


def test_policy_not_base64() -> None:
    err = error_of(check, {**handmade(policy_doc()), "policy": "%%%not-base64%%%"})
    assert (err.code, err.message) == ("InvalidPolicyDocument", "Invalid Policy: The policy is not valid base64.")


def test_wrapped_base64_is_decoded_but_signed_as_sent() -> None:
    fields = handmade(policy_doc(), wrap=60)
    assert "\n" in fields["policy"]
    check(fields, filename="")
    unwrapped = {**fields, "policy": "".join(fields["policy"].split())}
    assert error_of(check, unwrapped).code == "SignatureDoesNotMatch"  # the signature covers the text as sent
