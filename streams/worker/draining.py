"""Faust's consumer, handing each fetched record to the streams without four tasks per record.

Faust's drain loop (``faust.transport.consumer.Consumer._drain_messages``, faust-streaming
0.15.3) passes every record to the streams with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: four asyncio tasks
(the callback, the suspend event, the service's stopped and crashed events), an
``asyncio.wait`` and three cancellations per record, so that a callback blocked on a full
stream buffer or on suspended flow control can be abandoned when a rebalance suspends the
flow. Almost every callback finishes without ever waiting: it decodes the record and puts it
into the stream's queue. :func:`deliver` runs the callback's first step directly and falls
back to Faust's ``wait_first`` only when the callback actually has to wait, with the same
outcome: it finishes, or it is cancelled when the flow is suspended. This was ~10 % of the
worker's CPU in a burst.

:class:`DrainingConsumer._drain_messages` is Faust's loop with that call changed, and one
wait: while a stream's buffer is under pressure, Faust leaves that partition out of what the
next ``getmany`` may return, and ``getmany`` waits up to a second for records of the others.
When all partitions that have records are held back (a spike), that second was spent idle
even after the buffer had drained; it now waits ``BUFFERED_WAIT_S`` and asks again. A wait
covers the partitions open when it began, so while partitions wait to be opened (a start, a
cut-over's standby) it lasts ``GATED_WAIT_S``: one just opened is read within that.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Coroutine, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import Message
from mode import Service, ServiceT

__all__ = ["BUFFERED_WAIT_S", "DrainingConsumer", "GATED_WAIT_S", "deliver"]

#: how long a fetch waits for records of the other partitions while a stream buffer is full
BUFFERED_WAIT_S = 0.01
#: how long a fetch waits for records while some partitions wait to be opened
GATED_WAIT_S = 0.1

Step = Coroutine[Any, Any, Any]


async def _resume(coro: Step, awaiting: Any) -> Any:
    """Go on running ``coro``, which has just yielded ``awaiting`` (what a task would do)."""
    try:
        while True:
            if awaiting is None:  # a bare yield (``asyncio.sleep(0)``)
                await asyncio.sleep(0)
            elif not awaiting.done():
                await asyncio.wait([awaiting])
            awaiting = coro.send(None)
    except StopIteration as done:
        return done.value
    except asyncio.CancelledError:
        # cancelled while waiting: the coroutine sees the cancellation where it waits, as it
        # would in a task (asyncio.Queue.put removes its putter, locks release, ...)
        if awaiting is not None and not awaiting.done():
            awaiting.cancel()
        try:
            coro.throw(asyncio.CancelledError())
        except (StopIteration, asyncio.CancelledError):
            pass
        raise


async def deliver(callback: Callable[[Message], Awaitable[Any]], message: Message,
                  wait_first: Callable[..., Awaitable[Any]], suspended: Any) -> None:
    """``await callback(message)``, abandoned if ``suspended`` is set while it waits, as
    ``wait_first(callback(message), suspended.wait())`` does; without a task unless it waits."""
    coro = cast(Step, callback(message))
    try:
        awaiting = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise
    await wait_first(asyncio.ensure_future(_resume(coro, awaiting)), suspended.wait())


class DrainingConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer with a drain loop that runs callbacks through :func:`deliver`."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        # Faust's loop (faust-streaming 0.15.3), line for line, but for the deliver() call.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        wait_first = self.wait_first
        suspend_flow = self.suspend_flow

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                # (changed) while a stream buffer is full, its partitions are left out of the
                # fetch; wait for the others only briefly, so they are fetched again as soon as
                # the buffer drains instead of after a second
                # (changed) while partitions wait to be opened (streams.worker.bootstrap), wait
                # briefly too: a wait covers only the partitions open when it began
                ait = getmany(timeout=BUFFERED_WAIT_S if self._buffered_partitions else
                              GATED_WAIT_S if getattr(self, "gated", None) else 1.0)

                # Sleeping because sometimes getmany is called in a loop
                # never releasing to the event loop
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            # We have a gap in income messages
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            await deliver(callback, message, wait_first, suspend_flow)
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)
