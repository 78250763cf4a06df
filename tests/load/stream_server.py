"""A streaming LLM server whose time to first token and inter-token gaps are set exactly.

Run as its own process (``python stream_server.py [QUERY]`` prints its port, then serves
until stdin closes), so its timing does not share a GIL with the client under test.
``QUERY`` holds defaults for requests that carry none (an SDK that builds its own URL).
One thread per connection, keep-alive HTTP/1.1, ``TCP_NODELAY``; every event is written
at an absolute time from the request's arrival (the kernel's receive stamp), by a sleep
and a short spin to the due time, so errors do not add up along a stream.

The query string says what to answer (all optional)::

    shape=openai|anthropic|chunked|generic|plain   wire format (default openai)
    ttft_ms=50 itl_ms=10 tokens=8                  first token, gap, token events
    usage=N                                        report N output tokens in usage fields
    cut=K end=reset|clean                          stop after K tokens: RST, or end the
                                                   chunked body without the end marker
    slow_every=M slow_ttft_ms=T                    every M-th request (1-based) waits T ms
    batch=1                                        write all tokens at once (throughput)

With ``$STREAM_LOG`` set, each streamed answer appends to that file when its tokens
really left (seconds from the arrival), so a test can tell the server's lateness from
the client's measurement error.

OpenAI streams begin with a role-only delta sent with the headers (not a token: TTFT
must not count it) and end with a finish chunk, an optional usage chunk and ``[DONE]``;
Anthropic streams send ``message_start``, ``content_block_start`` and ``ping`` with the
headers. ``shape=plain`` answers one JSON document (Content-Length) after ``ttft_ms``.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

_count = 0
_lock = threading.Lock()
_defaults: dict[str, str] = {}
_plans: dict[tuple[tuple[str, str], ...], tuple[bytes, list[bytes], bytes]] = {}
#: Linux's value; Python 3.11's socket module does not name it
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def _sse(data: object, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


def _oa(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def plan(q: dict[str, str], n_tokens: int) -> tuple[bytes, list[bytes], bytes]:
    """(events sent with the headers, one event per token, the closing events)."""
    shape = q.get("shape", "openai")
    usage = q.get("usage")
    if shape == "openai":
        head = _sse(_oa({"role": "assistant", "content": ""}))
        toks = [_sse(_oa({"content": f" t{i}"})) for i in range(n_tokens)]
        tail = _sse(_oa({}, "stop"))
        if usage is not None:
            u = {"prompt_tokens": 3, "completion_tokens": int(usage), "total_tokens": 9}
            tail += _sse({"id": "c1", "choices": [], "usage": u})
        return head, toks, tail + b"data: [DONE]\n\n"
    if shape == "anthropic":
        start = {"type": "message_start", "message": {"content": [], "usage": {"output_tokens": 1}}}
        head = _sse(start, "message_start")
        head += _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        )
        head += _sse({"type": "ping"}, "ping")
        toks = [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": f"t{i}"},
                },
                "content_block_delta",
            )
            for i in range(n_tokens)
        ]
        delta: dict[str, object] = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
        if usage is not None:
            delta["usage"] = {"output_tokens": int(usage)}
        tail = _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        tail += _sse(delta, "message_delta") + _sse({"type": "message_stop"}, "message_stop")
        return head, toks, tail
    if shape == "generic":
        return b"", [f"data: tok{i}\n\n".encode() for i in range(n_tokens)], b""
    return b"", [f"tok{i} ".encode() for i in range(n_tokens)], b""  # chunked


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def answer(conn: socket.socket, target: str, t0: float) -> bool:
    """Serve one request that arrived at ``t0``; False when the connection was dropped."""
    global _count
    q = {**_defaults, **{k: v[-1] for k, v in parse_qs(urlsplit(target).query).items()}}
    with _lock:
        _count += 1
        n = _count
    ttft = float(q.get("ttft_ms", 50)) / 1e3
    if "slow_every" in q and n % int(q["slow_every"]) == 0:
        ttft = float(q["slow_ttft_ms"]) / 1e3
    itl = float(q.get("itl_ms", 10)) / 1e3
    n_tokens = int(q.get("tokens", 8))
    shape = q.get("shape", "openai")
    if shape == "plain":
        _sleep_until(t0 + ttft)
        body = json.dumps({"choices": [{"message": {"content": "x"}}]}).encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return True
    ctype = b"text/plain" if shape == "chunked" else b"text/event-stream"
    key = tuple(sorted(q.items()))
    if key not in _plans:  # built once per query: the server must outpace the client
        _plans[key] = plan(q, n_tokens)
    head, toks, tail = _plans[key]
    cut = int(q.get("cut", -1))
    start = b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    conn.sendall(start + (_chunk(head) if head else b""))
    if q.get("batch"):
        _sleep_until(t0 + ttft)
        conn.sendall(_chunk(b"".join(toks)) + (_chunk(tail) if tail else b"") + b"0\r\n\r\n")
        return True
    sent: list[float] = []
    for i, tok in enumerate(toks):
        if i == cut:
            if q.get("end", "reset") == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return False
            conn.sendall(b"0\r\n\r\n")
            return True
        _sleep_until(t0 + ttft + i * itl)
        conn.sendall(_chunk(tok))
        sent.append(time.monotonic() - t0)
    conn.sendall((_chunk(tail) if tail else b"") + b"0\r\n\r\n")
    _log(sent, time.monotonic() - t0)
    return True


def _log(sent: list[float], end: float) -> None:
    """Append when each token and the answer's last byte really left (seconds from the
    arrival) to ``$STREAM_LOG``."""
    path = os.environ.get("STREAM_LOG")
    if path and sent:
        with _lock, open(path, "a") as f:
            f.write(json.dumps({"tokens": sent, "end": end}) + "\n")


def _sleep_until(t: float) -> None:
    # sleep, then spin the last 0.3 ms: a sleep alone wakes up to ~0.1 ms late
    left = t - time.monotonic()
    if left > 0.0003:
        time.sleep(left - 0.0003)
    while time.monotonic() < t:
        pass


def _arrival(anc: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive time (CLOCK_REALTIME) on the monotonic clock, or 0."""
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9 - (time.time() - time.monotonic())
    return 0.0


def serve(conn: socket.socket) -> None:
    """Answer requests on ``conn`` until the client closes it."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # the kernel stamps each arrival: the schedule starts when the request arrived, not
    # when this thread got the CPU to read it (late on a loaded machine)
    conn.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    buf = b""
    try:
        while True:
            t0 = 0.0
            while b"\r\n\r\n" not in buf:
                data, anc, _, _ = conn.recvmsg(65536, 64)
                if not data:
                    return
                if not buf:
                    t0 = _arrival(anc)
                buf += data
            t0 = t0 or time.monotonic()
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[length:]
            target = head.split(b" ", 2)[1].decode()
            if not answer(conn, target, t0):
                return
    except OSError:
        return
    finally:
        conn.close()


def main() -> None:
    """Listen on 127.0.0.1:0, print the port, serve until stdin closes."""
    if len(sys.argv) > 1:
        _defaults.update((k, v[-1]) for k, v in parse_qs(sys.argv[1]).items())
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(2048)
    print(srv.getsockname()[1], flush=True)

    def accept() -> None:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
