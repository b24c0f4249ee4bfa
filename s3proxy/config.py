"""One frozen Settings object, read from the environment (Supabase Storage's variable
names where they exist) and overridden by command-line flags.

Nothing else in the code base reads os.environ: every knob is a field here, so
`s3proxy serve --help` and this file together document the whole configuration.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass


def _first(env: Mapping[str, str], *names: str) -> str | None:
    """The value of the first variable that is set (Supabase has aliases for many)."""
    for name in names:
        value = env.get(name)
        if value not in (None, ""):
            return value
    return None


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(value: str | None, default: int | None) -> int | None:
    if value is None:
        return default
    return int(value)


@dataclass(frozen=True)
class Settings:
    # server
    host: str = "127.0.0.1"
    port: int = 5000
    s3_port: int = 9000
    workers: int = 1
    data_dir: str = ".s3proxy"
    version: str = "0.1.0"

    # database: None means "start the embedded Postgres under data_dir"
    database_url: str | None = None
    db_max_connections: int = 10
    db_statement_timeout_ms: int = 30000
    db_anon_role: str = "anon"
    db_authenticated_role: str = "authenticated"
    db_service_role: str = "service_role"

    # auth
    jwt_secret: str = ""
    jwt_algorithm: str = "HS256"
    jwt_jwks: str | None = None  # JSON {"keys": [...], "urlSigningKey"?: {...}}
    anon_key: str | None = None
    service_key: str | None = None

    # storage backend
    storage_backend: str = "file"  # file | s3
    file_backend_path: str = ""
    s3_bucket: str = "stub"
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_force_path_style: bool = True
    s3_part_size: int = 16 * 1024 * 1024
    tenant_id: str = "stub"

    # S3 protocol (our own S3 endpoint)
    s3_protocol_access_key_id: str = ""
    s3_protocol_access_key_secret: str = ""
    s3_protocol_region: str = "us-east-1"
    s3_protocol_prefix: str = ""

    # limits
    upload_file_size_limit: int = 50 * 1024 * 1024 * 1024
    upload_file_size_limit_standard: int = 0
    upload_signed_url_expiration: int = 60 * 60 * 2
    empty_bucket_max: int = 200_000

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced; `None` values mean "not given"."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read every variable we honour; unknown ones are ignored as Supabase does."""
    e = os.environ if env is None else env
    d = Settings()
    backend = (_first(e, "STORAGE_BACKEND") or d.storage_backend).lower()
    return Settings(
        host=_first(e, "SERVER_HOST", "HOST") or d.host,
        port=_int(_first(e, "SERVER_PORT", "PORT"), d.port) or d.port,
        s3_port=_int(_first(e, "S3_PORT"), d.s3_port) or d.s3_port,
        workers=_int(_first(e, "WORKERS"), d.workers) or d.workers,
        data_dir=_first(e, "S3PROXY_DATA_DIR") or d.data_dir,
        version=_first(e, "VERSION") or d.version,
        database_url=_first(e, "DATABASE_URL"),
        db_max_connections=_int(_first(e, "DATABASE_MAX_CONNECTIONS"), d.db_max_connections)
        or d.db_max_connections,
        db_statement_timeout_ms=_int(_first(e, "DATABASE_STATEMENT_TIMEOUT"), d.db_statement_timeout_ms)
        or d.db_statement_timeout_ms,
        db_anon_role=_first(e, "DB_ANON_ROLE") or d.db_anon_role,
        db_authenticated_role=_first(e, "DB_AUTHENTICATED_ROLE") or d.db_authenticated_role,
        db_service_role=_first(e, "DB_SERVICE_ROLE") or d.db_service_role,
        jwt_secret=_first(e, "AUTH_JWT_SECRET", "PGRST_JWT_SECRET") or d.jwt_secret,
        jwt_algorithm=_first(e, "AUTH_JWT_ALGORITHM", "PGRST_JWT_ALGORITHM") or d.jwt_algorithm,
        jwt_jwks=_first(e, "JWT_JWKS"),
        anon_key=_first(e, "ANON_KEY"),
        service_key=_first(e, "SERVICE_KEY"),
        storage_backend=backend,
        file_backend_path=_first(e, "STORAGE_FILE_BACKEND_PATH", "FILE_STORAGE_BACKEND_PATH") or "",
        s3_bucket=_first(e, "STORAGE_S3_BUCKET", "GLOBAL_S3_BUCKET") or d.s3_bucket,
        s3_endpoint=_first(e, "STORAGE_S3_ENDPOINT", "GLOBAL_S3_ENDPOINT"),
        s3_region=_first(e, "STORAGE_S3_REGION", "REGION", "AWS_DEFAULT_REGION") or d.s3_region,
        s3_force_path_style=_bool(
            _first(e, "STORAGE_S3_FORCE_PATH_STYLE", "GLOBAL_S3_FORCE_PATH_STYLE"), d.s3_force_path_style
        ),
        s3_part_size=max(
            5 * 1024 * 1024,
            _int(_first(e, "STORAGE_S3_UPLOAD_PART_SIZE"), d.s3_part_size) or d.s3_part_size,
        ),
        tenant_id=_first(e, "TENANT_ID", "PROJECT_REF") or d.tenant_id,
        s3_protocol_access_key_id=_first(e, "S3_PROTOCOL_ACCESS_KEY_ID") or "",
        s3_protocol_access_key_secret=_first(e, "S3_PROTOCOL_ACCESS_KEY_SECRET") or "",
        s3_protocol_region=_first(e, "S3_PROTOCOL_REGION", "STORAGE_S3_REGION", "REGION")
        or d.s3_protocol_region,
        s3_protocol_prefix=(_first(e, "S3_PROTOCOL_PREFIX") or "").rstrip("/"),
        upload_file_size_limit=_int(
            _first(e, "UPLOAD_FILE_SIZE_LIMIT", "FILE_SIZE_LIMIT"), d.upload_file_size_limit
        )
        or d.upload_file_size_limit,
        upload_file_size_limit_standard=_int(
            _first(e, "UPLOAD_FILE_SIZE_LIMIT_STANDARD", "FILE_SIZE_LIMIT_STANDARD_UPLOAD"),
            d.upload_file_size_limit_standard,
        )
        or 0,
        upload_signed_url_expiration=_int(
            _first(e, "UPLOAD_SIGNED_URL_EXPIRATION_TIME", "SIGNED_UPLOAD_URL_EXPIRATION_TIME"),
            d.upload_signed_url_expiration,
        )
        or d.upload_signed_url_expiration,
        empty_bucket_max=_int(_first(e, "STORAGE_EMPTY_BUCKET_MAX"), d.empty_bucket_max)
        or d.empty_bucket_max,
    )
