"""FairSlots: connections are handed out in arrival order, even to a waiter that a
newcomer could otherwise overtake, and waiting gives up cleanly."""

from __future__ import annotations

import asyncio

import pytest

from s3proxy.db.slots import FairSlots


def test_waiters_are_served_in_arrival_order_and_newcomers_queue_behind() -> None:
    async def scenario() -> list[str]:
        slots = FairSlots(1)
        order: list[str] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with slots.slot(timeout=5):
                order.append("holder")
                await release.wait()

        async def waiter(name: str) -> None:
            async with slots.slot(timeout=5):
                order.append(name)
                await asyncio.sleep(0)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        queued = [asyncio.create_task(waiter(f"w{i}")) for i in range(3)]
        await asyncio.sleep(0)
        release.set()
        # a newcomer arriving right as the slot is released must not jump the queue
        late = asyncio.create_task(waiter("late"))
        await asyncio.gather(first, *queued, late)
        return order

    assert asyncio.run(scenario()) == ["holder", "w0", "w1", "w2", "late"]


def test_timeout_and_cancellation_leave_the_slot_usable() -> None:
    async def scenario() -> None:
        slots = FairSlots(1)
        async with slots.slot(timeout=5):
            with pytest.raises(TimeoutError):
                async with slots.slot(timeout=0.01):
                    pass
            cancelled = asyncio.create_task(slots.slot(timeout=5).__aenter__())
            await asyncio.sleep(0)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        # both gave up; the one slot is free again, at once, and nobody is left waiting
        assert slots._free == 1 and not slots._waiters
        async with slots.slot(timeout=0.01):
            assert slots._free == 0

    asyncio.run(scenario())
