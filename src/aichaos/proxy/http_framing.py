"""HTTP/1.x message framing for the HTTP layer: heads, bodies, and bytes it cannot parse.

:class:`MessageReader` splits one direction's byte stream into events: :class:`Head`
(one message's head, parsed by httptools), :class:`Body` (a piece of its body, raw and
decoded), :class:`End` (its last framing bytes) and :class:`Raw` (bytes that are not
followable HTTP, from the first byte of the message that failed to the end of the
connection). The ``raw`` fields of the events, concatenated, are exactly the bytes fed,
in order: nothing is held back but an incomplete head or chunk line (which a later event
carries, as a ``Raw`` one if the stream turns out not to be HTTP), so a layer that
forwards ``raw`` is byte-exact and one that gives up loses nothing.

httptools (llhttp) validates each head and extracts its parts; it is fed the head only
(the first ``CRLF CRLF``), never the body: the body's framing (Content-Length, chunked,
until close, none) is followed here, so body offsets are exact and unmodified bodies are
forwarded as they came.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httptools

__all__ = ["Body", "End", "Event", "Head", "MessageReader", "Raw", "header"]

#: chunk-size lines and trailer sections longer than this are not HTTP we follow
MAX_LINE = 4096

_HEAD_END = b"\r\n\r\n"
_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(slots=True)
class Head:
    """A message head: the request line (method, target) or status line, and headers."""

    raw: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    method: str = ""
    target: bytes = b""
    status: int = 0
    reason: bytes = b""
    #: the body's framing: "none", "length", "chunked", "close", or "upgrade" (raw after)
    framing: str = "none"

    def get(self, name: str) -> str | None:
        """The last value of a header (case-insensitive), decoded as latin-1."""
        return header(self.headers, name)


@dataclass(slots=True)
class Body:
    """A piece of a body: the bytes as received (``raw``) and the payload in them."""

    raw: bytes
    data: bytes


@dataclass(slots=True)
class End:
    """The end of a message; ``raw`` is its last framing bytes (``0\\r\\n\\r\\n``...)."""

    raw: bytes


@dataclass(slots=True)
class Raw:
    """Bytes the reader does not follow (not HTTP, an upgrade): passed on as they are."""

    raw: bytes


Event = Head | Body | End | Raw


def header(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The last value of header ``name`` in a raw header list, or None."""
    key = name.encode("latin-1").lower()
    for n, v in reversed(headers):
        if n.lower() == key:
            return v.decode("latin-1")
    return None


class _Callbacks:
    """httptools callbacks that collect one head's parts (and its framing headers)."""

    __slots__ = ("complete", "headers", "length", "reason", "te", "url")

    def __init__(self) -> None:
        self.url = b""
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False
        self.length: bytes | None = None
        self.te = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        n = len(name)
        if n == 14 and name.lower() == b"content-length":
            self.length = value
        elif n == 17 and name.lower() == b"transfer-encoding":
            self.te = self.te + b", " + value if self.te else value

    def on_headers_complete(self) -> None:
        self.complete = True


class _ResponseCallbacks(_Callbacks):
    __slots__ = ()

    def on_status(self, status: bytes) -> None:
        self.reason += status


# body states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _CLOSE, _RAW = range(8)
_STATE_AFTER_HEAD = {
    "none": _HEAD,
    "length": _LENGTH,
    "chunked": _CHUNK_SIZE,
    "close": _CLOSE,
    "upgrade": _RAW,
}


class MessageReader:
    """Follows the messages of one direction; :meth:`feed` returns the events in a chunk.

    ``responses``: parse responses (else requests). ``bodyless`` is asked, at each
    response head, whether it answers a ``HEAD`` request (then it has no body).
    ``max_head``: a longer head is not followed (:attr:`too_large` is set for requests).
    """

    def __init__(
        self, responses: bool, max_head: int, bodyless: Callable[[], bool] | None = None
    ) -> None:
        self.responses = responses
        self.max_head = max_head
        self._bodyless = bodyless
        self._state = _HEAD
        self._held = b""
        #: bytes of ``_held`` already fed to the head parser
        self._fed = 0
        self._left = 0
        self._parser: httptools.HttpRequestParser | httptools.HttpResponseParser | None = None
        self._cb = _Callbacks()
        #: a request head grew past ``max_head`` (the layer answers 431)
        self.too_large = False

    @property
    def busy(self) -> bool:
        """Inside a message (or holding part of one)."""
        return self._state != _HEAD or bool(self._held)

    @property
    def holding(self) -> bool:
        """Whether bytes are held here (part of a head or of a chunk line)."""
        return bool(self._held)

    @property
    def raw(self) -> bool:
        """Gave up: everything from here on is :class:`Raw`."""
        return self._state == _RAW

    def feed(self, data: bytes) -> list[Event]:
        """The events carried by ``data`` (their ``raw`` bytes add up to ``data`` + held)."""
        events: list[Event] = []
        pos, n = 0, len(data)
        while pos < n:
            state = self._state
            if state == _RAW:
                events.append(Raw(data[pos:] if pos else data))
                return events
            if state == _HEAD:
                pos = self._head(data, pos, events)
            elif state in (_LENGTH, _CLOSE):
                take = n - pos if state == _CLOSE else min(self._left, n - pos)
                piece = data[pos : pos + take] if take != n else data
                events.append(Body(piece, piece))
                pos += take
                if state == _LENGTH:
                    self._left -= take
                    if self._left == 0:
                        events.append(End(b""))
                        self._state = _HEAD
            else:
                pos = self._chunked(data, pos, events)
        return events

    def eof(self) -> list[Event]:
        """The stream ended: what is held goes out raw; a close-delimited body ends."""
        events: list[Event] = []
        if self._state == _CLOSE:
            events.append(End(b""))
            self._state = _HEAD
        if self._held:
            events.append(Raw(self._held))
            self._held = b""
        return events

    def release(self) -> bytes:
        """Stop following: the held bytes (to pass on as they are); all later bytes are Raw."""
        held, self._held = self._held, b""
        self._state = _RAW
        return held

    # -- heads -------------------------------------------------------------------------

    def _give_up(self, data: bytes, pos: int, events: list[Event]) -> int:
        """Not followable: the held bytes and the rest of ``data`` go out raw, for good."""
        self._state = _RAW
        rest = self._held + data[pos:]
        self._held = b""
        if rest:
            events.append(Raw(rest))
        return len(data)

    def _head(self, data: bytes, pos: int, events: list[Event]) -> int:
        if self._parser is None:
            if self.responses:
                self._cb = _ResponseCallbacks()
                self._parser = httptools.HttpResponseParser(self._cb)
            else:
                self._cb = _Callbacks()
                self._parser = httptools.HttpRequestParser(self._cb)
            self._fed = 0
        held = self._held
        start = len(held)
        buf = held + data[pos:] if held else (data[pos:] if pos else data)
        end = buf.find(_HEAD_END, start - 3 if start > 3 else 0)
        stop = len(buf) if end < 0 else end + 4
        if stop > self.max_head:
            if not self.responses:
                self.too_large = True
            return self._give_up(data, pos, events)
        assert self._parser is not None
        fed = self._fed
        try:
            self._parser.feed_data(buf if fed == 0 and stop == len(buf) else buf[fed:stop])
        except httptools.HttpParserUpgrade:
            pass  # the head is complete: an upgrade (checked below)
        except httptools.HttpParserError:
            return self._give_up(data, pos, events)
        self._fed = stop
        if end < 0:
            if self._cb.complete:  # the parser saw an end of head we did not: not ours
                return self._give_up(data, pos, events)
            self._held = buf
            return len(data)
        if not self._cb.complete:
            return self._give_up(data, pos, events)
        head = self._make_head(buf if stop == len(buf) else buf[:stop])
        if head is None:
            return self._give_up(data, pos, events)
        self._held = b""
        self._parser = None
        events.append(head)
        if head.framing == "none":
            events.append(End(b""))
        return pos + stop - start

    def _make_head(self, raw: bytes) -> Head | None:
        parser, cb = self._parser, self._cb
        assert parser is not None
        head = Head(raw, parser.get_http_version(), cb.headers)
        te = cb.te.lower()
        length = cb.length
        chunked = te.rsplit(b",", 1)[-1].strip() == b"chunked" if te else False
        if isinstance(parser, httptools.HttpResponseParser):
            head.status = parser.get_status_code()
            head.reason = cb.reason
            asked_head = self._bodyless is not None and self._bodyless()
            if head.status == 101:
                head.framing = "upgrade"
            elif asked_head or 100 <= head.status < 200 or head.status in (204, 304):
                head.framing = "none"
            elif chunked:
                head.framing = "chunked"
            elif te:
                head.framing = "close"
            elif length is not None:
                head.framing = "length"
            else:
                head.framing = "close"
        else:
            assert isinstance(parser, httptools.HttpRequestParser)
            head.method = parser.get_method().decode("ascii", "replace")
            head.target = cb.url
            if head.method == "CONNECT" or parser.should_upgrade():
                head.framing = "upgrade"
            elif te:
                if not chunked:
                    return None  # a request body we cannot delimit
                head.framing = "chunked"
            elif length is not None:
                head.framing = "length"
        if head.framing == "length":
            try:
                self._left = int(length or b"")
            except ValueError:
                return None
            if self._left < 0:
                return None
            if self._left == 0:
                head.framing = "none"
        self._state = _STATE_AFTER_HEAD[head.framing]
        return head

    # -- chunked bodies ----------------------------------------------------------------

    def _chunked(self, data: bytes, pos: int, events: list[Event]) -> int:
        """Follow chunked framing through the rest of ``data``: one Body, maybe an End.

        Bytes held from an earlier chunk (an incomplete line) lead this call's ``raw``.
        """
        held = self._held
        self._held = b""
        buf = held + data[pos:] if held else (data[pos:] if pos else data)
        i, n = 0, len(buf)
        pieces: list[bytes] = []
        ended = False
        while i < n and not ended:
            state = self._state
            if state == _CHUNK_DATA:
                take = min(self._left, n - i)
                pieces.append(buf[i : i + take])
                i += take
                self._left -= take
                if self._left == 0:
                    self._state = _CHUNK_CRLF
            elif state == _CHUNK_CRLF:
                if n - i < 2:
                    break
                if buf[i : i + 2] != b"\r\n":
                    return self._chunk_error(buf, i, pieces, data, events)
                i += 2
                self._state = _CHUNK_SIZE
            elif state == _CHUNK_SIZE:
                j = buf.find(b"\r\n", i)
                if j < 0:
                    if n - i > MAX_LINE:
                        return self._chunk_error(buf, i, pieces, data, events)
                    break
                size = buf[i:j].split(b";", 1)[0].strip(b" \t")
                if not size or len(size) > 16 or not _HEX.issuperset(size):
                    return self._chunk_error(buf, i, pieces, data, events)
                i = j + 2
                self._left = int(size, 16)
                self._state = _CHUNK_DATA if self._left else _TRAILER
            else:  # _TRAILER: header lines up to an empty one
                if buf.startswith(b"\r\n", i):
                    i += 2
                    ended = True
                    continue
                j = buf.find(_HEAD_END, i)
                if j < 0:
                    if n - i > MAX_LINE:
                        return self._chunk_error(buf, i, pieces, data, events)
                    break
                i = j + 4
                ended = True
        self._held = buf[i:]
        if i or pieces:
            events.append(Body(buf[:i] if i != n else buf, b"".join(pieces)))
        if ended:
            self._state = _HEAD
            events.append(End(b""))
            # what follows the message goes back to the caller (it is not held)
            rest = len(self._held)
            self._held = b""
            return len(data) - rest
        return len(data)

    def _chunk_error(
        self, buf: bytes, i: int, pieces: list[bytes], data: bytes, events: list[Event]
    ) -> int:
        if i or pieces:
            events.append(Body(buf[:i], b"".join(pieces)))
        self._held = b""
        self._give_up(buf[i:], 0, events)
        return len(data)
