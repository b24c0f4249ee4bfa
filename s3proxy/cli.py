"""`s3proxy serve | migrate | token | keys | sweep | config`: the command-line contract.

Flags and the environment both come from the configuration table (config.py); flags
win over the environment, which uses Supabase Storage's names.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from s3proxy.config import ConfigError, Knob, Settings, convert, knobs, settings_from_env


def _flag_type(f: dataclasses.Field[Any], flag: str) -> Any:
    """argparse `type=` for a field: the table's conversion, its message on failure."""

    def parse(raw: str) -> Any:
        try:
            return convert(f, raw, flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None

    return parse


def _flag_help(knob: Knob) -> str:
    return f"overrides {knob.env[0]} (below)"


def _add_flags(parser: argparse.ArgumentParser, only: Collection[str] | None = None, *,
               suppress: bool = False) -> None:
    """The table's flags (those of the fields in `only`, or all); None means not given.
    A sub-command's parser passes `suppress`, so an absent flag leaves the value its
    parent parsed (argparse would otherwise overwrite it with None)."""
    for f, knob in knobs():
        if knob.flag and (only is None or f.name in only):
            metavar = "{" + ",".join(knob.choices) + "}" if knob.choices else knob.flag.lstrip("-").upper()
            extra: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
            parser.add_argument(knob.flag, dest=f.name, type=_flag_type(f, knob.flag), metavar=metavar,
                                help=_flag_help(knob), **extra)


def _parser() -> argparse.ArgumentParser:
    from s3proxy.config_text import help_epilog

    parser = argparse.ArgumentParser(prog="s3proxy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server", epilog=help_epilog(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_flags(serve)

    migrate = sub.add_parser("migrate", help="create or update the storage schema, then exit")
    _add_flags(migrate, {"data_dir", "database_url"})

    token = sub.add_parser("token", help="print a JWT signed with the server's secret")
    token.add_argument("--role", choices=["anon", "authenticated", "service_role"], default="service_role")
    token.add_argument("--sub", help="the `sub` claim (user id)")
    token.add_argument("--exp", type=int, default=3600 * 24 * 365, help="lifetime in seconds")
    _add_flags(token, {"data_dir"})

    keys = sub.add_parser("keys", help="print the server's S3 access key id and secret (the admin key); "
                          "create, list and revoke users' own keys")
    _add_flags(keys, {"data_dir", "database_url"})
    user_keys = keys.add_subparsers(dest="keys_command", metavar="{create,list,revoke}")
    create = user_keys.add_parser("create", help="a new S3 key that acts as a user (RLS as that user's JWT); "
                                  "prints its id and secret once")
    create.add_argument("--sub", required=True, help="the user's id (auth.uid(), the JWT `sub`), a UUID")
    create.add_argument("--role", default="authenticated", choices=["anon", "authenticated", "service_role"])
    create.add_argument("--description", default="", help="a note for `keys list`")
    create.add_argument("--claims", default="{}", metavar="JSON",
                        help="more JWT claims for RLS policies (auth.jwt()), e.g. '{\"email\": \"a@b.c\"}'")
    listing = user_keys.add_parser("list", help="users' keys (never their secrets)")
    revoke = user_keys.add_parser("revoke", help="revoke a user's key (refused within seconds)")
    revoke.add_argument("access_key_id", metavar="KEYID")
    for each in (create, listing, revoke):
        _add_flags(each, {"data_dir", "database_url"}, suppress=True)

    sweep = sub.add_parser("sweep", help="remove what kills and outages left behind (orphaned version blobs, "
                           "abandoned multipart uploads, temporary files), then exit",
                           description="Removes bytes no row points at, multipart uploads nobody finished and "
                           "temporary files of killed writes, when older than --older-than; prints counts per kind.")
    sweep.add_argument("--dry-run", action="store_true", help="count only; remove nothing")
    sweep.add_argument("--older-than", type=_duration, default=timedelta(days=1), metavar="AGE",
                       help="grace period: only what is older is touched, e.g. 90s, 30m, 6h, 2d (default 1d)")
    _add_flags(sweep, {"data_dir", "database_url", "storage_backend"})

    config = sub.add_parser("config", help="print the configuration in effect (secrets masked), then exit")
    config.add_argument("--markdown", action="store_true",
                        help="print the reference of every setting instead (docs/configuration.md)")
    return parser


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(raw: str) -> timedelta:
    """`90`, `90s`, `30m`, `6h`, `2d`."""
    text = raw.strip().lower()
    unit = text[-1:] if text[-1:] in _UNITS else "s"
    number = text[:-1] if text[-1:] in _UNITS else text
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 30m, 6h or 2d, got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative, got {raw!r}")
    return timedelta(seconds=value * _UNITS[unit])


def _settings(args: argparse.Namespace) -> Settings:
    flags = {f.name: getattr(args, f.name, None) for f, knob in knobs() if knob.flag}
    return settings_from_env().with_overrides(**flags)


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
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        parser.exit(2, f"s3proxy: {exc}\n")
    from s3proxy.logs import configure

    configure(settings.log_level, settings.log_format)

    if args.command == "serve":
        from s3proxy import server

        server.serve(settings)
    elif args.command == "migrate":
        from s3proxy import server

        ran = asyncio.run(server.migrate_when_up(settings, server.database_url(settings)))
        print("applied: " + (", ".join(ran) if ran else "nothing, schema is up to date"))
    elif args.command == "token":
        from s3proxy.auth.jwt import JwtKeys
        from s3proxy.datadir import fill_secrets

        settings = fill_secrets(settings, create=False, need=("jwt",))
        keys = JwtKeys(settings.jwt_secret, settings.jwt_algorithm, settings.jwt_jwks)
        print(keys.mint(args.role, sub=args.sub, expires_in=args.exp))
    elif args.command == "keys" and args.keys_command:
        from s3proxy import user_keys

        user_keys.run(settings, args)
    elif args.command == "keys":
        from s3proxy.datadir import fill_secrets

        settings = fill_secrets(settings, create=False, need=("s3",))
        print(f"access key id      {settings.s3_protocol_access_key_id}")
        print(f"secret access key  {settings.s3_protocol_access_key_secret}")
    elif args.command == "sweep":
        from s3proxy.sweep_command import run_sweep

        run_sweep(settings, args.older_than, args.dry_run)
    elif args.command == "config":
        from s3proxy import config_text

        print(config_text.markdown() if args.markdown else config_text.effective(), end="")
    sys.stdout.flush()
