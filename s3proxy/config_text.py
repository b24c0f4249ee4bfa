"""The configuration table (config.py) rendered for people: the `serve --help` epilog
and docs/configuration.md.

Both come from the same walk over the table, so they cannot list different
variables; tests/unit/test_config.py fails when the committed page is stale
(regenerate it with `s3proxy config --markdown > docs/configuration.md`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

from s3proxy.config import EXTERNAL, GROUPS, S3PROXY_ONLY, knobs, read_env, show_value


@dataclass(frozen=True)
class Row:
    names: tuple[str, ...]
    flag: str | None
    default: str | None  # None: not read by s3proxy, so no default of ours
    help: str


def rows(group: str) -> Iterator[Row]:
    for f, knob in knobs():
        if knob.group == group:
            default = knob.shown_default or show_value(knob, f.default)
            meaning = knob.help + (f" ({' | '.join(knob.choices)})" if knob.choices else "")
            yield Row(knob.env, knob.flag, default, meaning)
    for ext in EXTERNAL:
        if ext.group == group:
            yield Row(ext.env, None, None, ext.help)


HELP_HEADER = """\
environment (Supabase Storage's names first, then the aliases it also accepts; the first
one set wins, and flags win over all of them):"""


def help_epilog(width: int = 100) -> str:
    """Plain text for `s3proxy serve --help`: one entry per setting, aliases included."""
    lines = [HELP_HEADER]
    for group in GROUPS:
        lines += ["", f"{group}:"]
        for row in rows(group):
            head = ", ".join(row.names) + (f"  [{row.flag}]" if row.flag else "")
            shown = row.default not in (None, "–")
            tail = row.help + (f" (default: {row.default})" if shown else "")
            lines.append("  " + head)
            lines += textwrap.wrap(tail, width=width, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines) + "\n"


def _names_cell(names: tuple[str, ...]) -> str:
    return "<br>".join(f"`{n}`" + (" (s3proxy)" if n in S3PROXY_ONLY else "") for n in names)


def _cell(text: str) -> str:
    """Text safe in a table cell: `|` would end the cell, `<data dir>` read as HTML."""
    return text.replace("|", "\\|").replace("<", "\\<")


MARKDOWN_HEADER = """\
# Configuration

<!-- Generated from s3proxy/config.py by `s3proxy config --markdown`; do not edit by hand. -->

Every setting is an environment variable; a few also have a command-line flag of
`s3proxy serve`, which wins over the environment. Names are Supabase Storage's: the first
name in a row is Supabase's own, the others are aliases it also accepts, and the first one
set wins (an empty value counts as unset). Names marked (s3proxy) are ours only. Other
Supabase Storage variables are ignored. `s3proxy serve --help` prints the same list, and
`s3proxy config` prints the values in effect (secrets masked), naming the variable each
came from. A value that does not parse stops the start with one line naming the variable.

Sizes are bytes, or a number with a unit: `KB`, `MB`, `GB` (decimal, as Supabase's bucket
limits) or `KiB`, `MiB`, `GiB`. Booleans are `true`/`false` (also `1`/`0`, `yes`/`no`,
`on`/`off`).
"""

MARKDOWN_FOOTER = """\
## Secrets and the data directory

When `AUTH_JWT_SECRET` or the S3 protocol key pair is not configured, `serve` generates
them once and keeps them in `<data dir>/secrets.json` (mode 600), so tokens and keys
survive restarts. When all of them are configured nothing is written there, and with
`DATABASE_URL` and the `s3` backend as well the server writes nothing to disk at all: it
runs as a non-root user in a read-only directory (docker/compose.yaml does).

`s3proxy token` and `s3proxy keys` use the configured secrets, else read the server's
`secrets.json`, found the same way `serve` finds it (`--data-dir`, else
`S3PROXY_DATA_DIR`, else `./.s3proxy`). They never generate secrets: with neither, they
stop with a message saying what to set.

## Start-up

The server waits up to `DATABASE_STARTUP_TIMEOUT` seconds for Postgres to accept
connections (it logs one line per attempt), so it can start before the database in
`docker compose`. A wrong password or a missing database stops it at once.

## JSON logs

`LOG_LEVEL` sets the least severe level logged. `LOG_FORMAT=json` writes one JSON object
per line with `time`, `level`, `logger` and `message`, plus `exception` when there is one
and any structured fields a log call passes (`extra=`).

## Scaling out

s3proxy nodes are stateless: run N worker processes per machine (`--workers`) and N machines
behind a load balancer, all pointing at one Postgres and one S3 store. Each worker has its own
connection pool of `DATABASE_MAX_CONNECTIONS`; keep `workers × nodes × pool` under the
database's `max_connections` (or put PgBouncer in transaction mode in front).
"""


def markdown() -> str:
    """docs/configuration.md."""
    parts = [MARKDOWN_HEADER]
    for group in GROUPS:
        parts.append(f"## {group.capitalize()}\n")
        parts.append("| variable | flag | default | meaning |\n|---|---|---|---|")
        for row in rows(group):
            flag = f"`{row.flag}`" if row.flag else ""
            default = _cell(row.default) if row.default is not None else "*(not read by s3proxy)*"
            parts.append(f"| {_names_cell(row.names)} | {flag} | {default} | {_cell(row.help)} |")
        parts.append("")
    parts.append(MARKDOWN_FOOTER)
    return "\n".join(parts)


def effective() -> str:
    """`s3proxy config`: each setting's value in effect and the variable it came from, so
    an operator sees which alias won; secrets show as `***`."""
    found = read_env()
    lines = []
    for f, knob in knobs():
        source, value = found.get(f.name, ("default", f.default))
        if knob.secret and value:
            shown = "***"
        elif source == "default" and knob.shown_default:
            shown = knob.shown_default
        else:
            shown = show_value(knob, value)
        lines.append(f"{knob.env[0]:<34} {shown}  ({source})")
    return "\n".join(lines) + "\n"
