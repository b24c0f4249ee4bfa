"""The configuration table: one frozen Settings object whose fields declare their own
environment variables, command-line flag, help text and group.

Everything about a setting is written once, here. `settings_from_env` reads the
environment by walking the fields, `cli.py` builds its flags from them, and
`config_text.py` renders them as the `serve --help` epilog and as
docs/configuration.md (a test fails when the committed page differs). Environment
names are Supabase Storage's where it has one, first, then the aliases it also
accepts; the first one set wins. Nothing else in the code base reads os.environ.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from s3proxy import __version__

KiB, MiB, GiB = 1024, 1024 * 1024, 1024 * 1024 * 1024


class ConfigError(ValueError):
    """A variable or flag holds a value we cannot use; the message names it, so the
    command line can print it as one line instead of a traceback."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source, self.problem = source, problem


@dataclass(frozen=True)
class Knob:
    """How one Settings field is configured and documented."""

    env: tuple[str, ...]  # first name wins; Supabase Storage's name first
    help: str
    group: str
    flag: str | None = None
    shown_default: str | None = None  # when the bare value would mislead (computed defaults)
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    parse: Callable[[str], Any] | None = None  # instead of the conversion by field type
    secret: bool = False  # masked by `s3proxy config`


def setting(default: Any, *env: str, help: str, group: str, **knob: Any) -> Any:
    """A Settings field carrying its Knob; typed Any so `x: int = setting(...)` checks."""
    return field(default=default, metadata={"knob": Knob(env=env, help=help, group=group, **knob)})


@dataclass(frozen=True)
class External:
    """A variable s3proxy documents but never reads: botocore's credential chain does."""

    env: tuple[str, ...]
    help: str
    group: str


GROUPS = ("server", "database", "auth", "backend", "s3 protocol", "limits", "images", "logging and metrics")

# Names Supabase Storage does not know; the docs mark them.
S3PROXY_ONLY = frozenset({
    "S3_PORT", "WORKERS", "S3PROXY_DATA_DIR", "DATABASE_STARTUP_TIMEOUT", "AWS_CA_BUNDLE",
    "S3_PROTOCOL_REGION", "LOG_FORMAT", "METRICS_ENABLED", "METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR",
    "AUTH_JWT_EXTRA_ROLES", "CORS_ALLOWED_ORIGINS",
    "IMAGE_TRANSFORMATION_MAX_SOURCE_SIZE", "IMAGE_TRANSFORMATION_MAX_RESOLUTION", "IMAGE_TRANSFORMATION_CONCURRENCY",
})


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": KiB, "mib": MiB, "gib": GiB, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)


def parse_size(raw: str) -> int:
    """Bytes, or a number with a unit: decimal KB/MB/GB/TB (as Supabase's bucket limits)
    or binary KiB/MiB/GiB/TiB."""
    match = _SIZE.match(raw)
    if match is None or ("." in match.group(1) and not match.group(2)):
        raise ValueError(f"expected a size in bytes (e.g. 52428800 or 50MiB), got {raw!r}")
    return round(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def show_size(value: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if value and value % size == 0:
            return f"{value // size} {unit}"
    return str(value)


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _path_prefix(raw: str) -> str:
    return raw.rstrip("/")


def _public_url(raw: str) -> str:
    """An absolute http(s) URL, kept without its trailing slash."""
    url = raw.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url, re.IGNORECASE):
        raise ValueError(f"expected an http:// or https:// URL, got {raw!r}")
    return url


_LEVELS = {"trace": "DEBUG", "debug": "DEBUG", "info": "INFO", "warn": "WARNING", "warning": "WARNING",
           "error": "ERROR", "fatal": "CRITICAL", "critical": "CRITICAL"}


def _log_level(raw: str) -> str:
    """Python's level names, and the pino names a Supabase Storage LOG_LEVEL holds."""
    level = _LEVELS.get(raw.strip().lower())
    if level is None:
        raise ValueError(f"expected one of {', '.join(_LEVELS)}, got {raw!r}")
    return level


_SERVER, _DB, _AUTH, _BACKEND, _S3, _LIMITS, _IMAGES, _LOG = GROUPS


@dataclass(frozen=True)
class Settings:
    # server
    host: str = setting("127.0.0.1", "SERVER_HOST", "HOST", group=_SERVER, flag="--host",
                        help="address to listen on")
    port: int = setting(5000, "SERVER_PORT", "PORT", group=_SERVER, flag="--port", minimum=1, maximum=65535,
                        help="REST port (the S3 API is also served under /s3 on it)")
    s3_port: int = setting(9000, "S3_PORT", group=_SERVER, flag="--s3-port", minimum=1, maximum=65535,
                           help="S3 port, S3 API at /")
    workers: int = setting(0, "WORKERS", group=_SERVER, flag="--workers", minimum=0,
                           shown_default="0 = one per CPU core", help="worker processes sharing the ports")
    data_dir: str = setting(".s3proxy", "S3PROXY_DATA_DIR", group=_SERVER, flag="--data-dir",
                            help="state folder: generated secrets, embedded Postgres, file backend; "
                                 "nothing is written to it when secrets, DATABASE_URL and the s3 backend are configured")
    version: str = setting(__version__, "VERSION", group=_SERVER, help="the text GET /version answers")
    storage_public_url: str | None = setting(
        None, "STORAGE_PUBLIC_URL", group=_SERVER, parse=_public_url, shown_default="the request's own",
        help="the REST API's base URL as clients reach it (e.g. https://example.com/storage/v1): "
             "TUS Location headers start with it")
    request_allow_x_forwarded_path: bool = setting(
        False, "REQUEST_ALLOW_X_FORWARDED_PATH", group=_SERVER,
        help="trust X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Prefix from a reverse proxy "
             "when building TUS Location headers (without STORAGE_PUBLIC_URL)")
    expose_docs: bool = setting(True, "EXPOSE_DOCS", group=_SERVER,
                                help="serve GET /openapi.json (OpenAPI 3 of the REST routes) and /documentation "
                                     "(an HTML page of the same)")
    request_id_header: str = setting(
        "X-Request-Id", "REQUEST_TRACE_HEADER", "REQUEST_ID_HEADER", group=_SERVER,
        help="REST response header carrying the request id the access log names; a caller's (gateway's) id in "
             "this request header is adopted (S3 answers carry x-amz-request-id)")
    cors_allowed_origins: str = setting("*", "CORS_ALLOWED_ORIGINS", group=_SERVER,
                                        help="origins browsers may call from (CORS), comma-separated, * for any, "
                                             "empty for none; an S3 bucket with its own CORS configuration "
                                             "(PutBucketCors) is answered from that instead")

    # database
    database_url: str | None = setting(
        None, "DATABASE_URL", group=_DB, flag="--database-url", secret=True,
        shown_default="embedded Postgres (pgserver) in <data dir>/pg",
        help="Postgres URL; its user must be able to SET ROLE to the anon, authenticated and service roles "
             "(migrations create them, and a minimal auth schema, when missing)")
    db_max_connections: int = setting(10, "DATABASE_MAX_CONNECTIONS", group=_DB, minimum=1,
                                      help="connection pool size per worker process")
    db_statement_timeout_ms: int = setting(30000, "DATABASE_STATEMENT_TIMEOUT", group=_DB, minimum=0,
                                           help="statement timeout in milliseconds (0 = none)")
    db_startup_timeout: int = setting(60, "DATABASE_STARTUP_TIMEOUT", group=_DB, minimum=0,
                                      help="seconds to wait for Postgres to accept connections at start-up")
    db_anon_role: str = setting("anon", "DB_ANON_ROLE", group=_DB,
                                help="role of requests without a token (and of the anon key)")
    db_authenticated_role: str = setting("authenticated", "DB_AUTHENTICATED_ROLE", group=_DB,
                                         help="role of signed-in users' tokens")
    db_service_role: str = setting("service_role", "DB_SERVICE_ROLE", group=_DB,
                                   help="role that bypasses RLS (service key, S3 access keys)")

    # auth
    jwt_secret: str = setting("", "AUTH_JWT_SECRET", "PGRST_JWT_SECRET", group=_AUTH, secret=True,
                              shown_default="generated, kept in <data dir>/secrets.json",
                              help="HS256 secret (raw UTF-8 bytes)")
    jwt_algorithm: str = setting("HS256", "AUTH_JWT_ALGORITHM", "PGRST_JWT_ALGORITHM", group=_AUTH,
                                 help="algorithm of tokens signed with the secret")
    jwt_extra_roles: str = setting("", "AUTH_JWT_EXTRA_ROLES", group=_AUTH,
                                   help="comma-separated roles a token may claim besides the anon, authenticated "
                                        "and service roles; any other role is refused (403), so a signed token "
                                        "can never run as, say, the database's superuser")
    jwt_jwks: str | None = setting(None, "JWT_JWKS", group=_AUTH, secret=True,
                                   help='JSON JWK set for RS256/ES256/EdDSA tokens ({"keys": [...]}); '
                                        "its urlSigningKey, if any, signs URLs")
    anon_key: str | None = setting(None, "ANON_KEY", group=_AUTH, secret=True, shown_default="minted",
                                   help="anon token printed at start (and the secret of S3 session-token requests)")
    service_key: str | None = setting(None, "SERVICE_KEY", group=_AUTH, secret=True, shown_default="minted",
                                      help="service_role token printed at start")

    # storage backend
    storage_backend: str = setting("file", "STORAGE_BACKEND", group=_BACKEND, flag="--backend",
                                   choices=("file", "s3"), help="where object bytes live")
    file_backend_path: str = setting("", "STORAGE_FILE_BACKEND_PATH", "FILE_STORAGE_BACKEND_PATH",
                                     group=_BACKEND, shown_default="<data dir>/files",
                                     help="root directory of the file backend")
    s3_bucket: str = setting("stub", "STORAGE_S3_BUCKET", "GLOBAL_S3_BUCKET", group=_BACKEND,
                             help="the one upstream bucket (s3 backend); the file backend's subfolder")
    s3_endpoint: str | None = setting(None, "STORAGE_S3_ENDPOINT", "GLOBAL_S3_ENDPOINT", group=_BACKEND,
                                      shown_default="AWS", help="upstream endpoint URL")
    s3_region: str = setting("us-east-1", "STORAGE_S3_REGION", "REGION", "AWS_DEFAULT_REGION",
                             group=_BACKEND, help="upstream region (signs upstream requests)")
    s3_force_path_style: bool = setting(True, "STORAGE_S3_FORCE_PATH_STYLE", "GLOBAL_S3_FORCE_PATH_STYLE",
                                        group=_BACKEND, help="path-style upstream URLs instead of virtual hosts")
    s3_part_size: int = setting(16 * MiB, "STORAGE_S3_UPLOAD_PART_SIZE", group=_BACKEND, parse=parse_size,
                                minimum=5 * MiB, help="upstream part size for bodies of unknown length")
    s3_ca_bundle: str | None = setting(None, "AWS_CA_BUNDLE", group=_BACKEND, shown_default="system CAs",
                                       help="PEM bundle that verifies the upstream's TLS certificate")
    tenant_id: str = setting("stub", "TENANT_ID", "PROJECT_REF", group=_BACKEND,
                             help="first segment of every data key; the access key of S3 session-token requests")

    # S3 protocol (our own S3 endpoint)
    s3_protocol_access_key_id: str = setting("", "S3_PROTOCOL_ACCESS_KEY_ID", group=_S3,
                                             shown_default="generated, kept in <data dir>/secrets.json",
                                             help="access key id of the S3 endpoint (acts as service_role)")
    s3_protocol_access_key_secret: str = setting("", "S3_PROTOCOL_ACCESS_KEY_SECRET", group=_S3, secret=True,
                                                 shown_default="generated, kept in <data dir>/secrets.json",
                                                 help="its secret; set both or neither")
    s3_protocol_region: str = setting("us-east-1", "S3_PROTOCOL_REGION", "STORAGE_S3_REGION", "REGION",
                                      group=_S3, help="region clients sign S3 requests for")
    s3_protocol_prefix: str = setting("", "S3_PROTOCOL_PREFIX", group=_S3, parse=_path_prefix,
                                      help="path prefix a gateway strips before us (e.g. /storage/v1)")

    # limits
    upload_file_size_limit: int = setting(50 * GiB, "UPLOAD_FILE_SIZE_LIMIT", "FILE_SIZE_LIMIT", group=_LIMITS,
                                          parse=parse_size, minimum=0, help="global object size limit")
    upload_file_size_limit_standard: int = setting(
        0, "UPLOAD_FILE_SIZE_LIMIT_STANDARD", "FILE_SIZE_LIMIT_STANDARD_UPLOAD", group=_LIMITS,
        parse=parse_size, minimum=0, shown_default="0 = off", help="limit for non-multipart uploads")
    upload_signed_url_expiration: int = setting(
        2 * 3600, "UPLOAD_SIGNED_URL_EXPIRATION_TIME", "SIGNED_UPLOAD_URL_EXPIRATION_TIME", group=_LIMITS,
        minimum=1, help="seconds a signed upload URL stays valid")
    tus_url_expiry_ms: int = setting(
        3600 * 1000, "TUS_URL_EXPIRY_MS", group=_LIMITS, minimum=1,
        help="milliseconds a TUS upload may stay idle before it expires (410); sweep removes it later")
    tus_lease_seconds: int = setting(
        20, "TUS_LEASE_SECONDS", group=_LIMITS, minimum=4,
        help="seconds an upload stays locked after the request writing it died (renewed every quarter of it)")
    empty_bucket_max: int = setting(200_000, "STORAGE_EMPTY_BUCKET_MAX", group=_LIMITS, minimum=0,
                                    help="most objects POST /bucket/:id/empty removes")

    # images (/render/image, rendered in process with libvips)
    image_transformation_enabled: bool = setting(
        True, "IMAGE_TRANSFORMATION_ENABLED", group=_IMAGES, shown_default="true (Supabase Storage: false)",
        help="serve /render/image/... and sign URLs with transformations (in process; no imgproxy needed)")
    image_min_size: int = setting(1, "IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE", group=_IMAGES, minimum=1,
                                  help="smallest width or height a transformation may ask for (smaller is raised)")
    image_max_size: int = setting(2000, "IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE", group=_IMAGES, minimum=1,
                                  help="largest width or height a transformation may ask for (larger is lowered)")
    image_max_source_size: int = setting(
        25_000_000, "IMAGE_TRANSFORMATION_MAX_SOURCE_SIZE", group=_IMAGES, parse=parse_size, minimum=1,
        shown_default="25000000 (25 MB, the hosted service's limit)",
        help="largest object rendered; checked from its metadata before a byte is read, and it bounds the "
             "memory one render holds")
    image_max_resolution: int = setting(
        50, "IMAGE_TRANSFORMATION_MAX_RESOLUTION", group=_IMAGES, minimum=1,
        help="largest source in megapixels (all frames), read from the header before any pixel is decoded: "
             "decompression bombs stop here")
    image_concurrency: int = setting(0, "IMAGE_TRANSFORMATION_CONCURRENCY", group=_IMAGES, minimum=0,
                                     shown_default="0 = one per CPU core",
                                     help="renders running at once per worker process (more wait their turn)")

    # logging
    log_level: str = setting("INFO", "LOG_LEVEL", group=_LOG, parse=_log_level,
                             help="least severe level logged: debug, info, warning, error, critical "
                                  "(also Supabase's trace, warn, fatal). The access log (logger s3proxy.access) "
                                  "writes one line per request: at info below 400, warning for 4xx, error for 5xx")
    metrics_enabled: bool = setting(True, "METRICS_ENABLED", group=_LOG,
                                    help="serve Prometheus metrics at GET /metrics on the REST port (summed over "
                                         "the workers)")
    metrics_token: str | None = setting(None, "METRICS_TOKEN", group=_LOG, secret=True, shown_default="none: open",
                                        help="when set, /metrics wants `Authorization: Bearer <this>`")
    metrics_dir: str = setting("", "PROMETHEUS_MULTIPROC_DIR", group=_LOG,
                               shown_default="/dev/shm/s3proxy-metrics-<user>-<port> (else in the temp folder)",
                               help="folder where each worker keeps its counts for /metrics to sum; emptied at "
                                    "start (the default one is removed at exit)")
    log_format: str = setting("text", "LOG_FORMAT", group=_LOG, choices=("text", "json"),
                              help="text lines, or one JSON object per line (access lines then carry protocol, "
                                   "method, path, status, error, error_status, operation, bucket, key, bytes_in, "
                                   "bytes_out, duration_ms, request_id, remote, aborted as fields); credentials "
                                   "are redacted in both")

    @property
    def allowed_roles(self) -> frozenset[str]:
        """The Postgres roles a token may assume."""
        extra = {r.strip() for r in self.jwt_extra_roles.split(",") if r.strip()}
        return frozenset({self.db_anon_role, self.db_authenticated_role, self.db_service_role, *extra})

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced; `None` values mean "not given"."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


EXTERNAL = (
    External(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), group=_BACKEND,
             help="upstream credentials; read by botocore's credential chain, not by s3proxy"),
    External(("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"), group=_BACKEND,
             help="where botocore's credential chain looks next (then web identity, container and instance roles)"),
)


def knobs() -> Iterator[tuple[dataclasses.Field[Any], Knob]]:
    """Every configurable field with its Knob, in declaration order."""
    for f in dataclasses.fields(Settings):
        yield f, f.metadata["knob"]


def environment_names() -> list[str]:
    """Every variable the table documents, read or not, in table order."""
    names = [name for _, knob in knobs() for name in knob.env]
    names += [name for ext in EXTERNAL for name in ext.env]
    return list(dict.fromkeys(names))


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


def _field_type(f: dataclasses.Field[Any]) -> type:
    """The field's type with `| None` removed (annotations are strings here)."""
    hint = _hints()[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint  # type: ignore[no-any-return]


def convert(f: dataclasses.Field[Any], raw: str, source: str) -> Any:
    """`raw` as the field's value, or ConfigError naming `source` (a variable or a flag)."""
    knob: Knob = f.metadata["knob"]
    try:
        if knob.parse is not None:
            value = knob.parse(raw)
        elif knob.choices:
            value = next((c for c in knob.choices if c.lower() == raw.strip().lower()), None)
            if value is None:
                raise ValueError(f"expected one of {', '.join(knob.choices)}, got {raw!r}")
        elif _field_type(f) is bool:
            value = parse_bool(raw)
        elif _field_type(f) is int:
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"expected an integer, got {raw!r}") from None
        else:
            value = raw
    except ValueError as exc:
        raise ConfigError(source, str(exc)) from None
    if isinstance(value, int) and not isinstance(value, bool):
        if knob.minimum is not None and value < knob.minimum:
            raise ConfigError(source, f"must be at least {show_value(knob, knob.minimum)}, got {raw!r}")
        if knob.maximum is not None and value > knob.maximum:
            raise ConfigError(source, f"must be at most {show_value(knob, knob.maximum)}, got {raw!r}")
    return value


def show_value(knob: Knob, value: Any) -> str:
    """A value as a person would write it (sizes in KiB/MiB/GiB, booleans lower-case)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if knob.parse is parse_size:
        return show_size(value)
    return str(value)


def read_env(env: Mapping[str, str] | None = None) -> dict[str, tuple[str, Any]]:
    """Field name -> (the variable it came from, its value), for the fields set in `env`
    (default: the process environment). An empty variable counts as unset, as in
    Supabase Storage."""
    env = os.environ if env is None else env
    found: dict[str, tuple[str, Any]] = {}
    for f, knob in knobs():
        for name in knob.env:
            raw = env.get(name)
            if raw not in (None, ""):
                assert raw is not None
                found[f.name] = (name, convert(f, raw, name))
                break
    return found


def export_to_libraries(name: str, value: str) -> None:
    """Set an environment variable for a library configured only that way (the metrics
    directory prometheus_client reads), so that this module stays the only one to touch
    os.environ."""
    os.environ[name] = value


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Every variable of the table; unknown ones are ignored, as Supabase does."""
    found = read_env(env)
    settings = Settings(**{name: value for name, (_, value) in found.items()})
    if bool(settings.s3_protocol_access_key_id) != bool(settings.s3_protocol_access_key_secret):
        raise ConfigError("S3_PROTOCOL_ACCESS_KEY_ID and S3_PROTOCOL_ACCESS_KEY_SECRET", "set both or neither")
    if settings.image_min_size > settings.image_max_size:
        raise ConfigError("IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE", "must not exceed IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE")
    return settings
