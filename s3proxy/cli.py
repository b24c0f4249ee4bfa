"""`s3proxy serve | migrate | token | keys`: the command-line contract.

Flags override the environment; the environment uses Supabase Storage's names.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from s3proxy.config import Settings, settings_from_env

ENVIRONMENT_HELP = """\
environment (Supabase Storage names; flags win over them):
  DATABASE_URL                     Postgres URL; unset = embedded Postgres (pgserver) in the data dir
  DATABASE_MAX_CONNECTIONS         pool size per worker (default 10)
  AUTH_JWT_SECRET                  HS256 secret; unset = generated and kept in the data dir
  AUTH_JWT_ALGORITHM               default HS256
  JWT_JWKS                         JSON JWK set for RS256/ES256/EdDSA tokens ({"keys": [...]})
  ANON_KEY / SERVICE_KEY           tokens to print instead of minted ones
  STORAGE_BACKEND                  file | s3 (default file)
  STORAGE_FILE_BACKEND_PATH        directory for the file backend (default <data dir>/files)
  STORAGE_S3_BUCKET                upstream bucket (s3 backend), also the file backend's subfolder
  STORAGE_S3_ENDPOINT              upstream endpoint URL (unset = AWS)
  STORAGE_S3_REGION                upstream region (default us-east-1)
  STORAGE_S3_FORCE_PATH_STYLE      true | false (default true)
  AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   upstream credentials (botocore's default chain)
  S3_PROTOCOL_ACCESS_KEY_ID        access key of our S3 endpoint; unset = generated
  S3_PROTOCOL_ACCESS_KEY_SECRET    its secret
  S3_PROTOCOL_PREFIX               path prefix a gateway strips before us (e.g. /storage/v1)
  UPLOAD_FILE_SIZE_LIMIT           global object size limit in bytes (default 50 GiB)
  UPLOAD_FILE_SIZE_LIMIT_STANDARD  limit for non-multipart uploads (0 = off)
  UPLOAD_SIGNED_URL_EXPIRATION_TIME  seconds a signed upload URL lives (default 7200)
  TENANT_ID                        first segment of every data key (default stub)
  SERVER_HOST / SERVER_PORT / S3_PORT / WORKERS / S3PROXY_DATA_DIR
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3proxy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the server",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="REST (and /s3) port (default 5000)")
    serve.add_argument("--s3-port", type=int, help="S3 port, S3 API at / (default 9000)")
    serve.add_argument("--data-dir", help="state folder: secrets, embedded Postgres, files (default ./.s3proxy)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the ports (default: cores)")
    serve.add_argument("--backend", choices=["file", "s3"], help="byte store (STORAGE_BACKEND)")
    serve.add_argument("--database-url", help="Postgres URL (DATABASE_URL)")

    migrate = sub.add_parser("migrate", help="create or update the storage schema, then exit")
    migrate.add_argument("--data-dir")
    migrate.add_argument("--database-url")

    token = sub.add_parser("token", help="print a JWT signed with the configured secret")
    token.add_argument("--role", choices=["anon", "authenticated", "service_role"], default="service_role")
    token.add_argument("--sub", help="the `sub` claim (user id)")
    token.add_argument("--exp", type=int, default=3600 * 24 * 365, help="lifetime in seconds")
    token.add_argument("--data-dir")

    keys = sub.add_parser("keys", help="print the S3 access key id and secret")
    keys.add_argument("--data-dir")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    base = settings_from_env()
    workers = getattr(args, "workers", None)
    if getattr(args, "command", "") == "serve" and workers is None and "WORKERS" not in os.environ:
        workers = os.cpu_count() or 1
    return base.with_overrides(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        s3_port=getattr(args, "s3_port", None),
        data_dir=getattr(args, "data_dir", None),
        workers=workers,
        storage_backend=getattr(args, "backend", None),
        database_url=getattr(args, "database_url", None),
    )


def _keep_botocore_off_awscrt() -> None:
    """botocore imports awscrt whenever it is installed, about 6.6 MiB in every process,
    though the server uses botocore only to sign upstream requests (in pure Python).
    With `awscrt.auth` hidden botocore goes without it, and `auth/checksums.py` loads
    awscrt's checksums itself on the first CRC32C or CRC64NVME upload. Must run before
    botocore's first import."""
    if "botocore" not in sys.modules:
        sys.modules.setdefault("awscrt.auth", None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    _keep_botocore_off_awscrt()
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    settings = _settings(args)
    from s3proxy import server

    if args.command == "serve":
        server.serve(settings)
    elif args.command == "migrate":
        settings = server.resolve(settings)
        assert settings.database_url is not None
        from s3proxy.db.migrate import migrate

        ran = asyncio.run(migrate(settings.database_url))
        print("applied: " + (", ".join(ran) if ran else "nothing, schema is up to date"))
    elif args.command == "token":
        settings = server.resolve(settings, need_database=False)
        from s3proxy.auth.jwt import JwtKeys

        keys = JwtKeys(settings.jwt_secret, settings.jwt_algorithm, settings.jwt_jwks)
        print(keys.mint(args.role, sub=args.sub, expires_in=args.exp))
    elif args.command == "keys":
        settings = server.resolve(settings, need_database=False)
        print(f"access key id      {settings.s3_protocol_access_key_id}")
        print(f"secret access key  {settings.s3_protocol_access_key_secret}")
    sys.stdout.flush()
