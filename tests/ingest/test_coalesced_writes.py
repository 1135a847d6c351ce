"""A response's writes made in one turn of the event loop leave in one ``send()``, in order,
and nothing written is lost when the connection closes."""

from __future__ import annotations

import asyncio

from services.ingest.coalesced_writes import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """What reaches the socket: each ``write`` call, and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[type-arg]
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def test_the_headers_and_the_body_written_in_one_turn_leave_in_one_call() -> None:
    socket = RecordingTransport()
    transport = CoalescingTransport(socket)

    transport.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    transport.write(b"")  # h11's end of a sized message
    assert socket.sent == []  # nothing before the turn ends
    await asyncio.sleep(0)

    assert socket.sent == [b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"]


async def test_writes_of_later_turns_follow_in_order() -> None:
    socket = RecordingTransport()
    transport = CoalescingTransport(socket)

    transport.write(b"first")
    await asyncio.sleep(0)
    transport.write(b"second")
    transport.write(b"third")
    await asyncio.sleep(0)

    assert socket.sent == [b"first", b"secondthird"]


async def test_closing_sends_what_was_written_before_it_closes() -> None:
    socket = RecordingTransport()
    transport = CoalescingTransport(socket)

    transport.write(b"HTTP/1.1 413 Content Too Large\r\nconnection: close\r\n\r\n")
    transport.close()
    await asyncio.sleep(0)

    assert socket.sent == [b"HTTP/1.1 413 Content Too Large\r\nconnection: close\r\n\r\n"]
    assert socket.closed


async def test_what_is_waiting_counts_in_the_write_buffer() -> None:
    transport = CoalescingTransport(RecordingTransport())

    transport.write(b"12345")

    assert transport.get_write_buffer_size() == 5
