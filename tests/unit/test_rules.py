"""Pure rules: ranges, conditionals, key and mime validation, size parsing, error envelopes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3proxy import errors
from s3proxy.auth.principal import Principal
from s3proxy.config import Settings, settings_from_env
from s3proxy.db.scope import RequestInfo, scope_settings
from s3proxy.rest.errors import rest_body, rest_status
from s3proxy.s3.errors import s3_error
from s3proxy.storage.buckets import Bucket, parse_file_size_limit, validate_bucket_name
from s3proxy.storage.conditions import Conditions, parse_range
from s3proxy.storage.limits import check_mime_type, max_upload_size, validate_key


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=10-", 100, (10, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=95-200", 100, (95, 99)),
        ("bytes=5-2", 100, None),
        ("items=0-1", 100, None),
        ("bytes=0-1,3-4", 100, None),
        (None, 100, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=200-300"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(errors.Error) as caught:
        parse_range(header, 100)
    assert caught.value.code == "InvalidRange" and s3_error(caught.value).status == 416


MODIFIED = datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)
BEFORE = "Tue, 30 Apr 2024 12:00:00 GMT"
AFTER = "Thu, 02 May 2024 12:00:00 GMT"
AT = "Wed, 01 May 2024 12:00:00 GMT"


def _outcome(cond: Conditions, *, for_read: bool = True) -> str:
    try:
        cond.check('"abc"', MODIFIED, for_read=for_read)
    except errors.Error as exc:
        return exc.code
    return "ok"


def test_conditional_precedence_as_aws() -> None:
    assert _outcome(Conditions(if_match='"abc"', if_unmodified_since=BEFORE)) == "ok"
    assert _outcome(Conditions(if_match='"nope"')) == "PreconditionFailed"
    assert _outcome(Conditions(if_unmodified_since=BEFORE)) == "PreconditionFailed"
    assert _outcome(Conditions(if_unmodified_since=AT)) == "ok"
    assert _outcome(Conditions(if_none_match='"abc"')) == "NotModified"
    assert _outcome(Conditions(if_none_match='"x", W/"abc"')) == "NotModified"
    assert _outcome(Conditions(if_none_match="*")) == "NotModified"
    assert _outcome(Conditions(if_none_match='"zzz"', if_modified_since=AFTER)) == "ok"
    assert _outcome(Conditions(if_modified_since=AFTER)) == "NotModified"
    assert _outcome(Conditions(if_modified_since=AT)) == "NotModified"
    assert _outcome(Conditions(if_modified_since=BEFORE)) == "ok"
    assert _outcome(Conditions(if_modified_since="not a date")) == "ok"
    assert _outcome(Conditions(if_none_match='"abc"'), for_read=False) == "PreconditionFailed"


@pytest.mark.parametrize("key", ["a", "dir/file.txt", "ünïcødé/日本語.png", "a//b", "/lead", "x" * 1024,
                                 "sp ace+plus%percent?q#h"])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "nul\x00byte", "tab\there", "x" * 1025, "é" * 513, "a/../b", "./x", ".."])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(errors.Error) as caught:
        validate_key(key)
    assert caught.value.code == ("KeyTooLong" if len(key.encode()) > 1024 else "InvalidKey")


def _bucket(**kw: object) -> Bucket:
    base: dict[str, object] = dict(id="b", name="b", owner=None, owner_id=None, public=False,
                                   file_size_limit=None, allowed_mime_types=None, created_at=None,
                                   updated_at=None)
    base.update(kw)
    return Bucket(**base)  # type: ignore[arg-type]


def test_mime_rules() -> None:
    check_mime_type(_bucket(), "anything/at-all")
    bucket = _bucket(allowed_mime_types=["image/*", "text/plain"])
    check_mime_type(bucket, "image/png")
    check_mime_type(bucket, "text/plain")
    check_mime_type(bucket, "text/plain;charset=UTF-8")
    for bad in ("text/html", "application/json", "nonsense"):
        with pytest.raises(errors.Error) as caught:
            check_mime_type(bucket, bad)
        assert caught.value.code == "InvalidMimeType"


def test_effective_limit() -> None:
    settings = Settings(upload_file_size_limit=1000, upload_file_size_limit_standard=500)
    assert max_upload_size(_bucket(), settings) == 500
    assert max_upload_size(_bucket(), settings, standard=False) == 1000
    assert max_upload_size(_bucket(file_size_limit=10), settings) == 10


def test_file_size_limit_parsing() -> None:
    assert parse_file_size_limit("1.2345MB", 10**12) == 1_230_000
    assert parse_file_size_limit("20gb", 10**12) == 20 * 10**9
    assert parse_file_size_limit(None, 10) is None
    with pytest.raises(errors.Error):
        parse_file_size_limit("1TB", 10**15)
    with pytest.raises(errors.Error) as caught:
        parse_file_size_limit(11, 10)
    assert caught.value.code == "EntityTooLarge"


@pytest.mark.parametrize("name", ["ok", "Up Case", "a.b-c_d!(x)"])
def test_bucket_names(name: str) -> None:
    assert validate_bucket_name(name) == name


def test_scope_sets_role_last_and_claims() -> None:
    principal = Principal(role="authenticated", claims={"role": "authenticated", "sub": "u1",
                                                        "email": "a@b.c", "app_metadata": {"x": 1},
                                                        "bad-name": 1})
    names, values = scope_settings(principal, "storage.object.get", RequestInfo("GET", "/x", {"A": "b"}), 1000)
    assert names[-1] == "role" and values[-1] == "authenticated"
    settings = dict(zip(names, values, strict=True))
    assert settings["request.jwt.claim.sub"] == "u1"
    assert settings["request.jwt.claim.email"] == "a@b.c"
    assert settings["request.jwt.claim.app_metadata"] == '{"x": 1}'
    assert "request.jwt.claim.bad-name" not in settings
    assert settings["storage.operation"] == "storage.object.get"
    assert settings["storage.allow_delete_query"] == "true"
    assert settings["request.headers"] == '{"a":"b"}'


def test_rest_status_rule() -> None:
    assert rest_status(errors.NoSuchKey()) == 400
    assert rest_body(errors.NoSuchKey())["statusCode"] == "404"
    assert rest_status(errors.InternalError()) == 500
    assert rest_status(errors.DatabaseUnavailable()) == 503
    assert rest_status(errors.InvalidRole()) == 403
    assert rest_body(errors.InvalidRole())["code"] == "AccessDenied"


def test_settings_from_env_reads_supabase_names() -> None:
    s = settings_from_env({"DATABASE_URL": "postgres://x", "STORAGE_BACKEND": "S3", "STORAGE_S3_BUCKET": "bk",
                           "STORAGE_S3_FORCE_PATH_STYLE": "false", "UPLOAD_FILE_SIZE_LIMIT": "123",
                           "FILE_STORAGE_BACKEND_PATH": "files"})
    assert (s.database_url, s.storage_backend, s.s3_bucket) == ("postgres://x", "s3", "bk")
    assert s.s3_force_path_style is False and s.upload_file_size_limit == 123
    assert s.file_backend_path == "files"
    assert s.with_overrides(port=1, host=None).port == 1
