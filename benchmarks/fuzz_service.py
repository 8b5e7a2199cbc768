"""Fuzz the prediction service over real HTTP: status counts, 5xx (must be 0), hangs (must be 0), open files.

Starts the real service as `make serve` does (`python -m ml_lifecycle.serving`, the configured
client limits) on a temporary copy of the project, then sends a seeded corpus over raw sockets,
one connection per case: valid and mutated rows (dropped, unknown and retyped fields, huge
strings and numbers, NaN and infinity, lone surrogates and control characters), random bytes,
truncated and deeply nested JSON, wrong top-level types, bad content types, oversize and chunked
bodies, malformed HTTP, other methods and paths, and bodies cut short by the client. Then a
slowloris phase: `--slow` connections at once, idle, with a half-sent head or a half-sent body,
held until the service answers or closes each, while one normal request is tried. A case the
service neither answers nor closes within `--hang-seconds` is a hang. Exits 1 on any 5xx other
than the concurrency cap's 503, on any hang, or when the service does not answer normally after.
Needs a champion (`make run` first).

usage: .venv/bin/python benchmarks/fuzz_service.py [--cases 3000] [--slow 2000] [--seed 0] [--hang-seconds 40]
"""

from __future__ import annotations

import contextlib
import json
import random
import select
import selectors
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.serving import (  # noqa: E402
    as_records,
    copied_project,
    running_service,
    service_arguments,
    test_file_rows,
)
from ml_lifecycle.spec import ProblemSpec  # noqa: E402

NO_ANSWER = "closed, no answer"
HANG = "hang"
WEIRD_VALUES: list[Any] = [None, True, False, 0, -1, 1e308, -1e308, 5e-324, 2**64, "", " ", "?", "x" * 101, "x" * 10_000,
                           "x" * 500_000, "\x00", "Priv\x00ate", "\x1b[31m", "\u202e", "١٢", "1e5", "NaN", [], {}, [1, 2],
                           {"a": 1}, "🙂" * 50]
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1" * 5000, "1e999", "-0", "0x10", "'text'", '"\\ud800"', '"\\udfff x"']
CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
                 "application/json; charset=latin-1", "application/xml", "application/json, text/html", "\x7f"]


def request(body: bytes, path: str = "/predict", method: str = "POST", content_type: str = "application/json",
            extra: str = "") -> bytes:
    """Return the bytes of one HTTP/1.1 request closing its connection after the answer."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n{extra}\r\n".encode("latin-1") + body


def mutated_row(rng: random.Random, row: dict[str, Any]) -> bytes:
    """Return a JSON row with one to three fields dropped, added, retyped or replaced by a raw token."""
    mutated, tokens = dict(row), {}
    for _ in range(rng.randint(1, 3)):
        field = rng.choice(list(row))
        kind = rng.choice(["drop", "unknown", "weird", "weird", "raw"])
        if kind == "drop":
            mutated.pop(field, None)
        elif kind == "unknown":
            mutated[f"{field}_{rng.randint(0, 99)}"] = rng.choice(WEIRD_VALUES)
        elif kind == "weird":
            mutated[field] = rng.choice(WEIRD_VALUES)
        else:
            marker = f"@@raw{len(tokens)}@@"
            tokens[f'"{marker}"'] = rng.choice(RAW_TOKENS)
            mutated[field] = marker
    text = json.dumps(mutated)
    for marker, token in tokens.items():
        text = text.replace(marker, token)
    return text.encode()


def nested(depth: int, rng: random.Random) -> bytes:
    """Return JSON nested `depth` levels deep, in arrays or objects."""
    if rng.random() < 0.5:
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def corpus(rng: random.Random, rows: list[dict[str, Any]], cases: int, max_rows: int) -> list[tuple[str, bytes, bool]]:
    """Return `cases` fuzz cases as (kind, raw request, whether the client stops sending half-way)."""
    def row() -> dict[str, Any]:
        return rng.choice(rows)

    def good() -> bytes:
        return json.dumps(row()).encode()

    makers: dict[str, Callable[[], tuple[bytes, bool]]] = {
        "valid row": lambda: (request(good()), False),
        "valid rows": lambda: (request(json.dumps([row() for _ in range(rng.randint(1, 20))]).encode()), False),
        "mutated row": lambda: (request(mutated_row(rng, row())), False),
        "mutated rows": lambda: (request(b"[" + b",".join(mutated_row(rng, row()) for _ in range(rng.randint(1, 5))) + b"]"),
                                 False),
        "too many rows": lambda: (request(json.dumps([row()] * (max_rows + 1)).encode()), False),
        "empty list": lambda: (request(b"[]"), False),
        "wrong top-level type": lambda: (request(rng.choice([b"1", b'"row"', b"null", b"true", b"[1, 2]", b'[["a"]]'])), False),
        "random bytes": lambda: (request(rng.randbytes(rng.randint(0, 2000))), False),
        "truncated JSON": lambda: (request(good()[: rng.randint(0, 150)]), False),
        "deep nesting": lambda: (request(nested(rng.choice([100, 1000, 10_000, 100_000]), rng)), False),
        "bad content type": lambda: (request(good(), content_type=rng.choice(CONTENT_TYPES)), False),
        "oversize body": lambda: (request(b" " * 1_200_000 + good()), False),
        "oversize chunked": lambda: (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: "
                                     b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     + b"".join(b"10000\r\n" + b" " * 65536 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n", False),
        "malformed HTTP": lambda: (rng.choice([b"GARBAGE\r\n\r\n", b"POST /predict HTTP/9.9\r\n\r\n",
                                               b"POST /predict HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
                                               b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                                               b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                                               request(good(), extra=f"X-Big: {'a' * 20_000}\r\n")]), False),
        "other method or path": lambda: (request(good(), path=rng.choice(["/predict", "/nope", "/admin/reload", "/feedback",
                                                                            "/model", "/%00", "/" + "a" * 5000]),
                                                 method=rng.choice(["GET", "PUT", "DELETE", "POST", "PATCH"])), False),
        "body cut short": lambda: (request(good())[: -rng.randint(1, 50)], True),
    }
    kinds = list(makers)
    return [(kind, *makers[kind]()) for kind in (rng.choice(kinds) for _ in range(cases))]


def status_of(answer: bytes) -> str:
    """Return the status code of a raw answer, or NO_ANSWER when the service closed without one."""
    return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else NO_ANSWER


def read_until_closed(connection: socket.socket) -> bytes:
    """Return everything the service sends until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):  # a close with our bytes unread reaches us as a reset
        while chunk := connection.recv(65536):
            received += chunk
    return received


def send_watching(connection: socket.socket, raw: bytes) -> None:
    """Send `raw` in 64 KiB pieces, stopping when the service answers or closes first (as it does an oversize body)."""
    answered = select.poll()  # not select(): slowloris connections take descriptors past its 1024 limit
    answered.register(connection, select.POLLIN)
    for start in range(0, len(raw), 65536):
        if answered.poll(0):
            return
        try:
            connection.sendall(raw[start:start + 65536])
        except (BrokenPipeError, ConnectionResetError):
            return


def exchange(port: int, raw: bytes, stop_sending: bool, hang_seconds: float) -> str:
    """Send one raw request and read until the service closes; return its status, NO_ANSWER or HANG."""
    with socket.create_connection(("127.0.0.1", port), timeout=hang_seconds) as connection:
        try:
            send_watching(connection, raw)
            if stop_sending:
                connection.shutdown(socket.SHUT_WR)
            return status_of(read_until_closed(connection))
        except TimeoutError:
            return HANG


def open_slow(port: int, kind: str) -> socket.socket:
    """Open a slowloris connection: idle, a half-sent head, or a complete head and 2 of 100 body bytes."""
    connection = socket.create_connection(("127.0.0.1", port))
    if kind == "half head":
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
    elif kind == "half body":
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 100\r\n\r\n{\"")
    connection.setblocking(False)
    return connection


def hold_until_closed(connections: dict[socket.socket, str], hang_seconds: float) -> tuple[dict[str, Counter], float]:
    """Wait for the service to answer or close every connection; return outcomes by kind (HANG past `hang_seconds`) and the seconds waited."""
    outcomes: dict[str, Counter] = defaultdict(Counter)
    received = dict.fromkeys(connections, b"")
    started = time.monotonic()
    deadline = started + hang_seconds
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            selector.register(connection, selectors.EVENT_READ)
        while received and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                connection = key.fileobj
                try:
                    chunk = connection.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[connection] += chunk
                    continue
                answer = received.pop(connection)
                outcomes[connections[connection]][status_of(answer)] += 1
                selector.unregister(connection)
                connection.close()
    for connection in received:
        outcomes[connections[connection]][HANG] += 1
        connection.close()
    return outcomes, time.monotonic() - started


def slowloris(port: int, count: int, hang_seconds: float, rows: list[dict], pid: int) -> tuple[dict[str, Counter], float, int, str]:
    """Hold `count` slow connections; return their outcomes, seconds until the last closed, open files at the peak, a normal request's status."""
    kinds = ["idle", "half head", "half body"]
    connections = {open_slow(port, kinds[i % 3]): kinds[i % 3] for i in range(count)}
    time.sleep(1)  # let the service accept them all
    peak = psutil.Process(pid).num_fds()
    meanwhile = exchange(port, request(json.dumps(rows[0]).encode()), False, hang_seconds)
    outcomes, seconds = hold_until_closed(connections, hang_seconds)
    return outcomes, seconds + 1, peak, meanwhile


def print_counts(title: str, counts: dict[str, Counter]) -> None:
    """Print one line per kind: its statuses and counts."""
    print(title)
    for kind, counter in counts.items():
        print(f"  {kind:<22} " + ", ".join(f"{status}: {n}" for status, n in sorted(counter.items())))


def run(port: int, pid: int, rows: list[dict], spec: ProblemSpec, args: Any) -> bool:
    """Run the corpus and the slowloris phase against the service; print the figures; return whether it passed."""
    rng = random.Random(args.seed)
    service = psutil.Process(pid)
    files_before = service.num_fds()
    cases = corpus(rng, rows, args.cases, max_rows=1000)
    by_kind: dict[str, Counter] = defaultdict(Counter)
    started = time.perf_counter()
    for kind, raw, stop_sending in cases:
        by_kind[kind][exchange(port, raw, stop_sending, args.hang_seconds)] += 1
    corpus_seconds = time.perf_counter() - started
    slow, slow_seconds, peak_files, meanwhile = slowloris(port, args.slow, args.hang_seconds, rows, pid)
    time.sleep(1)  # the service closes its side as the clients' last bytes are read
    files_after = service.num_fds()
    after = exchange(port, request(json.dumps(rows[1]).encode()), False, args.hang_seconds)

    statuses = sum(by_kind.values(), Counter())
    slow_total = sum(slow.values(), Counter())
    server_errors = sum(n for status, n in statuses.items() if status.startswith("5"))
    slow_errors = sum(n for status, n in slow_total.items() if status.startswith("5") and status != "503")
    hangs = statuses[HANG] + slow_total[HANG]
    print_counts(f"corpus: {len(cases)} cases in {corpus_seconds:.1f} s (seed {args.seed}), by kind:", by_kind)
    print("corpus statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print_counts(f"slowloris: {args.slow} connections held at once, the last closed by the service after {slow_seconds:.1f} s, "
                 "by kind:", slow)
    print(f"a normal request during the slowloris phase: {meanwhile}; after it: {after}")
    print(f"5xx: {server_errors} in the corpus, {slow_errors} other than the cap's 503 in the slowloris phase "
          f"({slow_total['503']} x 503)")
    print(f"hangs: {hangs}")
    print(f"service open files: {files_before} before, {peak_files} at the slowloris peak, {files_after} after")
    return server_errors == 0 and slow_errors == 0 and hangs == 0 and after == "200"


def main() -> None:
    parser = service_arguments(__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000, help="corpus cases, one connection each")
    parser.add_argument("--slow", type=int, default=2000, help="slowloris connections held at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=40,
                        help="no answer nor close within this long is a hang (default: 4x the default 10 s timeouts)")
    args = parser.parse_args()
    with copied_project(args.project, args.env) as (project, context, spec):
        rows = as_records(test_file_rows(context, spec), spec)[:500]
        with running_service(project, args.env) as (port, pid):
            passed = run(port, pid, rows, spec, args)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
