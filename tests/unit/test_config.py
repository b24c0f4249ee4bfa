"""The configuration table: every name of every setting is read, the first one set wins,
bad values are one clear line, and `serve --help` and docs/configuration.md are both
produced from the table (these tests fail when they drift)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from s3proxy import cli, config_text
from s3proxy.config import (
    ConfigError,
    GiB,
    MiB,
    Settings,
    environment_names,
    knobs,
    parse_size,
    settings_from_env,
)

REPO = Path(__file__).resolve().parents[2]
PAIR = {"S3_PROTOCOL_ACCESS_KEY_ID": "key", "S3_PROTOCOL_ACCESS_KEY_SECRET": "secret"}


def _sample(f: dataclasses.Field[Any]) -> tuple[str, Any]:
    """A valid raw value for the field that differs from its default, and its parsed value."""
    knob = f.metadata["knob"]
    if knob.choices:
        return knob.choices[-1].lower(), knob.choices[-1]
    if f.name == "log_level":
        return "warn", "WARNING"
    if f.name == "storage_public_url":
        return "https://example.com/storage/v1/", "https://example.com/storage/v1"
    if knob.parse is parse_size:
        return "7MiB", 7 * MiB
    if isinstance(f.default, bool):
        return str(not f.default).lower(), not f.default
    if isinstance(f.default, int):
        return str(f.default + 1), f.default + 1
    return f"/value-{f.name}", f"/value-{f.name}"


def test_public_url_must_be_http_or_https() -> None:
    for bad in ("example.com", "ftp://example.com", "https://", "http://a b"):
        with pytest.raises(ConfigError, match="STORAGE_PUBLIC_URL"):
            settings_from_env({"STORAGE_PUBLIC_URL": bad})
    assert settings_from_env({"STORAGE_PUBLIC_URL": "http://h:8000/"}).storage_public_url == "http://h:8000"


@pytest.mark.parametrize("field_name,variable", [(f.name, name) for f, knob in knobs() for name in knob.env])
def test_every_name_of_every_setting_is_read(field_name: str, variable: str) -> None:
    f = next(f for f, _ in knobs() if f.name == field_name)
    raw, value = _sample(f)
    env = {variable: raw} | ({k: v for k, v in PAIR.items() if k != variable} if variable in PAIR else {})
    assert getattr(settings_from_env(env), field_name) == value


@pytest.mark.parametrize("field_name", [f.name for f, knob in knobs() if len(knob.env) > 1])
def test_the_first_name_set_wins_and_empty_means_unset(field_name: str) -> None:
    f, knob = next((f, k) for f, k in knobs() if f.name == field_name)
    raw, value = _sample(f)
    env = {name: "" for name in knob.env[:-1]} | {knob.env[-1]: raw}
    assert getattr(settings_from_env(env), field_name) == value  # empty names are skipped
    env = {knob.env[0]: raw} | {name: "not-this" for name in knob.env[1:]}
    assert getattr(settings_from_env(env), field_name) == value


def test_defaults_without_environment() -> None:
    assert settings_from_env({}) == Settings()
    s = settings_from_env({"STORAGE_BACKEND": "S3", "LOG_LEVEL": "debug", "S3_PROTOCOL_PREFIX": "/storage/v1/"})
    assert (s.storage_backend, s.log_level, s.s3_protocol_prefix) == ("s3", "DEBUG", "/storage/v1")
    for supabase, python in (("trace", "DEBUG"), ("warn", "WARNING"), ("fatal", "CRITICAL")):  # pino's names
        assert settings_from_env({"LOG_LEVEL": supabase}).log_level == python


@pytest.mark.parametrize("env,message", [
    ({"WORKERS": "abc"}, "WORKERS: expected an integer, got 'abc'"),
    ({"PORT": "70000"}, "PORT: must be at most 65535, got '70000'"),
    ({"STORAGE_S3_FORCE_PATH_STYLE": "maybe"}, "STORAGE_S3_FORCE_PATH_STYLE: expected true or false, got 'maybe'"),
    ({"STORAGE_BACKEND": "gcs"}, "STORAGE_BACKEND: expected one of file, s3, got 'gcs'"),
    ({"STORAGE_S3_UPLOAD_PART_SIZE": "1MiB"}, "STORAGE_S3_UPLOAD_PART_SIZE: must be at least 5 MiB, got '1MiB'"),
    ({"FILE_SIZE_LIMIT": "lots"}, "FILE_SIZE_LIMIT: expected a size in bytes (e.g. 52428800 or 50MiB), got 'lots'"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT: expected one of text, json, got 'xml'"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL: expected one of trace, debug, info, warn, warning, error, fatal, critical, got 'loud'"),
    ({"S3_PROTOCOL_ACCESS_KEY_ID": "only-the-id"}, "S3_PROTOCOL_ACCESS_KEY_SECRET: set both or neither"),
    ({"IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE": "300", "IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE": "200"},
     "IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE: must not exceed IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE"),
    ({"IMAGE_TRANSFORMATION_ENABLED": "maybe"}, "IMAGE_TRANSFORMATION_ENABLED: expected true or false, got 'maybe'"),
])
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_env(env)
    assert str(caught.value).endswith(message) and "\n" not in str(caught.value)


def test_sizes() -> None:
    assert parse_size("123") == 123
    assert parse_size("50GiB") == 50 * GiB and parse_size("16 mib") == 16 * MiB
    assert parse_size("1.5GB") == 1_500_000_000 and parse_size("5MB") == 5_000_000
    for bad in ("1.5", "-1", "5 parsecs", ""):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_docs_configuration_md_is_generated_from_the_table() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == config_text.markdown(), (
        "docs/configuration.md is stale: run `s3proxy config --markdown > docs/configuration.md`")


_VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


def test_serve_help_and_the_docs_list_the_same_variables() -> None:
    serve = cli._parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    help_text, docs = serve.format_help(), (REPO / "docs" / "configuration.md").read_text()
    assert set(_VARIABLE.findall(help_text)) == set(_VARIABLE.findall(docs))
    for name in environment_names():  # one-word names too (HOST, PORT, REGION, WORKERS...)
        assert re.search(rf"\b{name}\b", help_text) and re.search(rf"\b{name}\b", docs), name
    for _, knob in knobs():
        if knob.flag:
            assert knob.flag in help_text


def test_nothing_but_config_py_reads_the_environment() -> None:
    readers = [str(path.relative_to(REPO)) for path in (REPO / "s3proxy").rglob("*.py")
               if re.search(r"os\.environ|getenv\(", path.read_text()) and path.name != "config.py"]
    assert readers == []


def test_config_prints_the_effective_values_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7000")
    monkeypatch.setenv("AUTH_JWT_SECRET", "do-not-print-me")
    monkeypatch.delenv("SERVER_PORT", raising=False)
    text = config_text.effective()
    assert re.search(r"^SERVER_PORT\s+7000\s+\(PORT\)$", text, re.M)
    assert re.search(r"^AUTH_JWT_SECRET\s+\*\*\*\s+\(AUTH_JWT_SECRET\)$", text, re.M)
    assert "do-not-print-me" not in text


def test_flags_use_the_table_conversion_and_win_over_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli._parser().parse_args(["serve", "--workers", "3", "--backend", "S3", "--port", "6000"])
    assert (args.workers, args.storage_backend, args.port) == (3, "s3", 6000)
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["serve", "--workers", "many"])
    assert "argument --workers: expected an integer, got 'many'" in capsys.readouterr().err
