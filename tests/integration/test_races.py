"""Moves, copies and deletes racing overwrites of the same key, over real HTTP on both
backends (issue 15 §1 and §1b): no acknowledged write may be lost, and of two moves of
one source exactly one may succeed.

The oracle. "Every acknowledged body is accounted for" is decided three ways, each
sound under every legitimate interleaving:

1. White-box, after quiescence (race_support.audit): every row of the bucket points at
   an existing blob, no blob lacks a row, and every current object's bytes match its
   size and ETag. A fault-free server deletes each superseded or failed version before
   it answers, so once every request has been answered an orphaned blob is a bug, and
   an orphan holding an acknowledged body that no key holds any more is exactly a lost
   write. Every body names itself on its first line, so each blob is attributed.
2. Black-box where it is exact: in `test_overwrite_racing_move_keeps_the_write` each
   round races ONE overwrite against ONE move to a fresh destination, so the only
   correct end states are "move first" (dst = old body, src = new body), "write first"
   (dst = new body, src gone) or "move refused" (src = new body, no dst); anything
   else, notably dst = old body with src gone, has lost the acknowledged write.
3. Black-box where it is sound in the storm: destinations are unique and written only
   by their move or copy, so a successful one must exist afterwards holding a body some
   writer sent, byte for byte, and a refused one must not exist; and an acknowledged
   write whose body no key holds must have been superseded by a write or delete of
   `src` that ended after it started (otherwise nothing could have replaced it).

A move may be refused with 404 when the version it read was superseded (and its bytes
deleted) before it copied them, as Supabase's own move is, or with a 409 conflict; it
may never be denied (403: every client here is service_role) or fail with 5xx. The
server runs two workers (race_support.two_worker_server), as in production.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import httpx

from tests.integration import race_support
from tests.integration.race_support import (
    Clients,
    Deadline,
    Ledger,
    LogMark,
    Op,
    audit,
    body,
    held,
    race_rounds,
    run_threads,
    summary,
    tag_of,
)
from tests.rig import Server

server = race_support.two_worker_server  # overrides conftest's `server` here (and so `http`, `bucket`)
WRITES = ("rest-put", "rest-post", "s3-put")
DELETES_OK = {"rest-delete": {200}, "s3-delete": {204}, "s3-mv-delete": {204}}
ALLOWED = {
    "rest-put": {200}, "rest-post": {200}, "s3-put": {200},
    "move": {200, 404, 409},  # refused: the source is gone, or a retryable conflict
    "rest-copy": {200, 404, 409}, "s3-copy": {200, 404, 409}, "s3-mv-copy": {200, 404, 409},
    "rest-delete": {200, 404}, "s3-delete": {204}, "s3-mv-delete": {204},
}
COPIES = ("move", "rest-copy", "s3-copy", "s3-mv-copy")


# --- the storm: many writers, moves, copies and deletes on one key ---------------------------------

STORM_WRITERS = 16
STORM_WRITES_EACH = 20  # 320 writes
STORM_SECONDS = 20.0
STORM_MOVERS = 4
# Writers pause up to this long between writes: with 16 writers hammering without a
# pause, each superseded version is deleted so fast that nearly every move finds its
# source version gone and is refused; paced, about one write lands inside a move.
STORM_PAUSE = 0.3


def test_storm_of_writes_moves_copies_and_deletes_loses_nothing(server: Server, bucket: str,
                                                               http: httpx.Client) -> None:
    """16 writers overwrite `src` (REST PUT, REST POST x-upsert, S3 PutObject) while
    movers, copiers (REST and S3), an `aws s3 mv` (CopyObject + DeleteObject) and a
    deleter (REST and S3) work on it; every acknowledged body must be accounted for."""
    ledger, mark = Ledger(), LogMark(server)
    ledger.bodies["initial"] = body("initial")
    assert http.put(f"object/{bucket}/src", content=ledger.bodies["initial"]).status_code == 200
    deadline = Deadline(STORM_SECONDS)
    writing, lock = [STORM_WRITERS], threading.Lock()

    def writer(c: Clients, w: int) -> None:
        for i in deadline:
            if i >= STORM_WRITES_EACH:
                break
            tag = f"w{w}-{i}"
            c.write(ledger, WRITES[(w + i) % len(WRITES)], "src", tag, body(tag))
            deadline.stop.wait(random.uniform(0, STORM_PAUSE))
        with lock:
            writing[0] -= 1
            if writing[0] == 0:  # the last writer ends the storm
                deadline.stop.set()

    def mover(c: Clients, m: int) -> None:
        for i in deadline:
            c.move(ledger, "src", f"mv-{m}-{i}")

    def copier(c: Clients) -> None:
        for i in deadline:
            c.rest_copy(ledger, "src", f"cp-{i}")
            c.s3_copy(ledger, "src", f"s3cp-{i}")

    def s3_mv(c: Clients) -> None:  # what `aws s3 mv` does: copy, then delete the source
        for i in deadline:
            if c.s3_copy(ledger, "src", f"s3mv-{i}", kind="s3-mv-copy").status == 200:
                c.s3_delete(ledger, "src", kind="s3-mv-delete")

    def deleter(c: Clients) -> None:
        for i in deadline:
            if i % 2:
                c.rest_delete(ledger, "src")
            else:
                c.s3_delete(ledger, "src")
            deadline.stop.wait(0.05)

    def bind(fn: Any, *args: Any) -> Any:
        c = Clients(server, bucket)  # made here, on the main thread
        return lambda: fn(c, *args)

    targets = [bind(writer, w) for w in range(STORM_WRITERS)]
    targets += [bind(mover, m) for m in range(STORM_MOVERS)] + [bind(copier), bind(s3_mv), bind(deleter)]
    run_threads(targets, timeout=STORM_SECONDS + 40)

    found = audit(server, bucket)
    acknowledged = {op.tag for op in ledger.of(*WRITES) if op.status == 200 and op.tag}
    holding = {tag_of(data) for data in found.current.values()}
    lost = found.lost(acknowledged)
    superseders = [op for op in ledger.ops if op.status == 200 and op.kind in WRITES
                   or op.status in DELETES_OK.get(op.kind, ())]
    unaccounted = sorted(
        str(w.tag) for w in ledger.of(*WRITES) if w.status == 200 and w.tag not in holding
        and not any(s.end > w.start and s.tag != w.tag for s in superseders)
    )
    wrong_bytes = sorted(name for name, data in found.current.items() if ledger.bodies.get(tag_of(data) or "") != data)
    destinations: Counter[str] = Counter()
    for op in ledger.of(*COPIES):
        there = op.dest in found.current
        if op.status == 200 and not there:
            destinations[f"{op.kind} answered 200, its destination is missing"] += 1
        elif op.status != 200 and there:
            destinations[f"{op.kind} answered {op.status}, its destination exists"] += 1
    statuses = ledger.unexpected(ALLOWED)
    facts = {
        "lost": f"{len(lost)} of {len(acknowledged)} acknowledged writes {sorted(lost)[:6]}",
        "orphans": len(found.orphans),
        "unaccounted": f"{len(unaccounted)} {unaccounted[:6]}",
        "moves ok": f"{sum(op.status == 200 for op in ledger.of('move'))}/{len(ledger.of('move'))}",
        "copies ok": f"{sum(op.status == 200 for op in ledger.of(*COPIES[1:]))}/{len(ledger.of(*COPIES[1:]))}",
        "deletes": len(ledger.of(*DELETES_OK)),
        "unexpected statuses": dict(statuses),
        "destinations": dict(destinations),
        "audit": found.problems(),
        "bytes not as sent": wrong_bytes[:6],
        "server exceptions": dict(mark.exceptions()),
    }
    print(summary(server, facts))
    assert not lost and not unaccounted, summary(server, facts)
    assert not found.problems() and not wrong_bytes, summary(server, facts)
    assert not statuses and not destinations, summary(server, facts)


# --- one overwrite against one move, many times: an exact black-box oracle --------------------------

LANES = 6
ROUNDS = 20
JITTER_STEPS = 8


def test_overwrite_racing_move_keeps_the_write(server: Server, bucket: str) -> None:
    """Each round: `src` holds A; an overwrite with B (REST PUT, REST POST x-upsert or
    S3 PutObject in turn) and a move src -> dst start together. Afterwards B must be
    at src or at dst: the write was acknowledged and nothing else touched the key."""
    ledger, mark = Ledger(), LogMark(server)
    outcomes: Counter[str] = Counter()

    def setup(c: Clients, name: str) -> dict[str, str]:
        tag = f"{name}-A"
        assert c.write(ledger, "rest-put", f"{name}/src", tag, body(tag)).status == 200
        return {"A": tag, "B": f"{name}-B"}

    def overwrite(c: Clients, name: str, state: dict[str, str]) -> Op:
        lane, _, number = name[1:].partition("r")
        how = WRITES[int(number) % len(WRITES)]
        # the write starts 0-7 ms after the move, sweeping the move's window (copy the
        # source version, then commit) across rounds: where the write lands decides
        # which outcome the round tests
        time.sleep((int(lane) + int(number)) % JITTER_STEPS * 0.001)
        return c.write(ledger, how, f"{name}/src", state["B"], body(state["B"]))

    def move(c: Clients, name: str, state: dict[str, str]) -> Op:
        return c.move(ledger, f"{name}/src", f"{name}/dst")

    def check(c: Clients, name: str, state: dict[str, str], ops: list[Op]) -> None:
        write, moved = ops
        src, dst = held(c.get(f"{name}/src")), held(c.get(f"{name}/dst"))
        a, b = state["A"], state["B"]
        if write.status != 200 or moved.status not in ALLOWED["move"]:
            outcomes[f"answered: {write.kind} {write.status}, move {moved.status}"] += 1
        elif moved.status == 200 and (dst, src) == (a, b):
            outcomes["move first"] += 1
        elif moved.status == 200 and (dst, src) == (b, None):
            outcomes["write first"] += 1
        elif moved.status != 200 and (dst, src) == (None, b):
            outcomes["move refused"] += 1
        elif moved.status == 200 and (dst, src) == (a, None):
            outcomes["LOST: move answered 200, dst holds A, src is empty"] += 1
        else:
            outcomes[f"WRONG: move {moved.status}, src {'A' if src == a else src}, dst {'A' if dst == a else dst}"] += 1

    lanes = [[Clients(server, bucket), Clients(server, bucket)] for _ in range(LANES)]
    race_rounds(lanes, ROUNDS, setup=setup, contenders=[overwrite, move], check=check, timeout=60)
    found = audit(server, bucket)
    ok = {"move first", "write first", "move refused"}
    bad = {k: v for k, v in outcomes.items() if k not in ok}
    facts = {"rounds": LANES * ROUNDS, "outcomes": dict(outcomes), "orphans": len(found.orphans),
             "audit": found.problems(),
             "server exceptions": dict(mark.exceptions())}
    print(summary(server, facts))
    assert not bad, summary(server, facts)
    assert not found.problems(), summary(server, facts)


# --- §1b: two moves of one source -------------------------------------------------------------------

def test_two_moves_of_one_source_exactly_one_wins(server: Server, bucket: str) -> None:
    """Each round: `src` holds A; moves src -> a and src -> b start together. Exactly
    one may answer 200 and hold A at its destination; the other is refused (not found
    or conflict) and its destination does not exist; src is gone."""
    ledger, mark = Ledger(), LogMark(server)
    outcomes: Counter[str] = Counter()

    def setup(c: Clients, name: str) -> str:
        tag = f"{name}-A"
        assert c.write(ledger, "rest-put", f"{name}/src", tag, body(tag)).status == 200
        return tag

    def to_a(c: Clients, name: str, tag: str) -> Op:
        return c.move(ledger, f"{name}/src", f"{name}/a")

    def to_b(c: Clients, name: str, tag: str) -> Op:
        return c.move(ledger, f"{name}/src", f"{name}/b")

    def check(c: Clients, name: str, tag: str, ops: list[Op]) -> None:
        now = {k: held(c.get(f"{name}/{k}")) for k in ("src", "a", "b")}
        won = [op for op in ops if op.status == 200]
        refused = [op for op in ops if op.status in (404, 409)]
        if len(won) == 2:
            there = [k for k in ("a", "b") if now[k] == tag]
            outcomes[f"BOTH answered 200; A is only at {there}"] += 1
        elif len(won) == 1 and len(refused) == 1:
            winner = won[0].dest.rpartition("/")[2] if won[0].dest else "?"
            loser = "b" if winner == "a" else "a"
            if (now[winner], now[loser], now["src"]) == (tag, None, None):
                outcomes["one won"] += 1
            else:
                outcomes[f"WRONG state after one win: {now}"] += 1
        else:
            outcomes[f"answered {sorted(op.status for op in ops)}"] += 1

    lanes = [[Clients(server, bucket), Clients(server, bucket)] for _ in range(LANES)]
    race_rounds(lanes, ROUNDS, setup=setup, contenders=[to_a, to_b], check=check, timeout=60)
    found = audit(server, bucket)
    bad = {k: v for k, v in outcomes.items() if k != "one won"}
    facts = {"rounds": LANES * ROUNDS, "outcomes": dict(outcomes), "orphans": len(found.orphans),
             "audit": found.problems(),
             "server exceptions": dict(mark.exceptions())}
    print(summary(server, facts))
    assert not bad, summary(server, facts)
    assert not found.problems(), summary(server, facts)
