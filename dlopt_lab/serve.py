"""Serve a classifier over HTTP on this machine, and load-test it.

.. code-block:: python

    model = torch.nn.Linear(64, 10)
    with serve(create_app(model)) as server:          # http://127.0.0.1:<free port>
        r = httpx.post(server.url + "/predict", json={"inputs": [[0.0] * 64]})
        r.json()                                      # {"predictions": [3], "probabilities": [[...]]}
        print(load_test(server.url + "/predict", [{"inputs": [[0.0] * 64]}], max_requests=100))

The service is small on purpose: one FastAPI app, a pydantic model that says what a request
may contain, and the model run under ``torch.inference_mode()``. Everything that arrives over
the network is untrusted, so every bad request is answered with a 4xx and a message that names
the problem, never a 500:

=====  =============================================================================
code   when
=====  =============================================================================
400    the body is not valid JSON
413    the body is larger than ``max_body_bytes`` (rejected before it is parsed)
415    the body is not declared as JSON (``Content-Type`` other than application/json)
422    valid JSON that breaks the schema: a missing or unknown field, a non-number,
       NaN or infinity, a row of the wrong length (or a ragged batch), an empty batch,
       or more than ``max_batch`` rows
=====  =============================================================================

A batch larger than ``max_batch`` is a 422, not a 413: the body may be small and well formed,
its *content* breaks a limit of the schema, and the message says which (413 is about bytes).

The book only ever serves on the loopback interface, so :func:`serve` and :func:`load_test`
refuse any other address.
"""

# No `from __future__ import annotations` here: FastAPI and pydantic read the annotations of the
# request model and the endpoint, which are local to create_app, at run time.
import ipaddress
import math
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

__all__ = ["LoadResult", "ServerHandle", "create_app", "load_test", "serve"]

_MAX_LISTED_ERRORS = 10
_NOT_JSON = "the body is not valid JSON (a syntax error, bytes that are not UTF-8, or nesting too deep)"


def create_app(
    model: Any,
    *,
    input_shape: Sequence[int] = (64,),
    max_batch: int = 256,
    class_names: Sequence[str] | None = None,
    max_body_bytes: int | None = None,
) -> Any:
    """A FastAPI app that serves ``model`` (a classifier returning logits) on the CPU.

    Endpoints:
        ``GET /health`` → ``{"status": "ok"}``.
        ``POST /predict`` with ``{"inputs": [x_1, x_2, ...]}``, each ``x_i`` a nested list of
        numbers of shape ``input_shape`` → ``{"predictions": [argmax_i, ...],
        "probabilities": [softmax(logits_i), ...]}``, plus ``"labels"`` when ``class_names``
        is given.

    Args:
        model: a ``torch.nn.Module`` mapping a ``(B, *input_shape)`` float tensor to ``(B, C)``
            logits. It is put in eval mode here (dropout off, batch-norm statistics frozen)
            and is called once on zeros to learn ``C``.
        input_shape: the shape of one example, e.g. ``(64,)`` for flattened 8x8 digits.
        max_batch: the most examples one request may carry (>= 1).
        class_names: ``C`` names, one per class, returned as ``"labels"``.
        max_body_bytes: the largest body accepted; by default room for ``max_batch`` examples
            at 32 bytes per number plus 64 KiB.

    Returns:
        the ``fastapi.FastAPI`` app; run it with :func:`serve`.
    """
    import torch
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict
    from starlette.exceptions import HTTPException as StarletteHTTPException

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else ()
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
    numel = math.prod(shape)
    if max_body_bytes is None:
        max_body_bytes = 64 * 1024 + 32 * max_batch * numel
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be an integer >= 1, got {max_body_bytes!r}")

    model.eval()
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    with torch.inference_mode():
        probe = model(torch.zeros(1, *shape, dtype=dtype))
    if probe.ndim != 2 or probe.shape[0] != 1:
        raise ValueError(
            f"model must map (B, *input_shape) to (B, C) logits; for input_shape={shape} "
            f"it returned shape {tuple(probe.shape)}"
        )
    num_classes = probe.shape[1]
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != num_classes:
            raise ValueError(
                f"class_names must name all {num_classes} classes of the model, got {len(class_names)}"
            )

    # One number: strict (no "1.5" strings, no true/false) and finite (no NaN, no Infinity).
    example: Any = Annotated[float, Strict(), AllowInfNan(False)]
    for d in reversed(shape):  # nest a list of exactly d items per dimension
        example = Annotated[list[example], Field(min_length=d, max_length=d)]

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        inputs: Annotated[list[example], Field(min_length=1, max_length=max_batch)]

    app = FastAPI(title="dlopt_lab classifier", docs_url=None, redoc_url=None)
    app.add_middleware(_BodyLimit, max_body_bytes=max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": _NOT_JSON}, status_code=400)
        lines = [_describe(e) for e in errors[:_MAX_LISTED_ERRORS]]
        if len(errors) > _MAX_LISTED_ERRORS:
            lines.append(f"... and {len(errors) - _MAX_LISTED_ERRORS} more errors")
        return JSONResponse({"detail": "; ".join(lines)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI raises a bare 400 "There was an error parsing the body" when json.loads fails
        # other than by a syntax error (bytes that are not UTF-8, nesting too deep).
        detail = _NOT_JSON if exc.status_code == 400 and "parsing the body" in str(exc.detail) else exc.detail
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def _json_only(request: Request, call_next: Any) -> Any:
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return JSONResponse(
                    {"detail": f"Content-Type must be application/json, got {ctype or 'none'!r}"},
                    status_code=415,
                )
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict[str, Any]:
        # A plain def: FastAPI runs it in a worker thread, so the event loop keeps accepting.
        x = torch.tensor(request.inputs, dtype=dtype)  # (B, *input_shape)
        with torch.inference_mode():
            probs = torch.softmax(model(x).float(), dim=1)  # (B, C)
        preds = probs.argmax(dim=1).tolist()
        out: dict[str, Any] = {"predictions": preds, "probabilities": probs.tolist()}
        if class_names is not None:
            out["labels"] = [class_names[i] for i in preds]
        return out

    return app


def _describe(error: dict[str, Any]) -> str:
    """``inputs[0][3]: Input should be a finite number`` from one pydantic error."""
    loc = [part for part in error.get("loc", ()) if part != "body"]
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    msg = error.get("msg", "invalid")
    if error.get("type") == "missing" and not loc:
        return "the body is missing; send {\"inputs\": [...]}"
    if error.get("type") == "extra_forbidden":
        msg = "unknown field (only 'inputs' is allowed)"
    if loc == ["inputs"] and error.get("type") == "too_long":
        ctx = error.get("ctx", {})
        msg = (f"the batch has {ctx.get('actual_length')} examples, "
               f"more than max_batch={ctx.get('max_length')}")
    if loc == ["inputs"] and error.get("type") == "too_short":
        msg = "the batch is empty; send at least one example"
    return f"{where or 'body'}: {msg}"


class _BodyLimit:
    """ASGI middleware: answer 413 when a request body exceeds ``max_body_bytes``.

    The declared ``Content-Length`` is checked first; a body sent in chunks is counted as it
    arrives (and buffered, at most ``max_body_bytes``), so no size header can sneak past.
    """

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        from fastapi.responses import JSONResponse

        response = JSONResponse(
            {"detail": f"the body is larger than the limit of {self.max_body_bytes} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, None, send)


# --- running the app --------------------------------------------------------------------------


def _loopback(host: str) -> str:
    """``host`` as a loopback IP literal, or a ValueError: the book serves on this machine only."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback:
        raise ValueError(
            f"host must be a loopback address such as '127.0.0.1' (the book serves on this "
            f"machine only), got {host!r}"
        )
    return str(ip)


@dataclass
class ServerHandle:
    """A running server: its ``url`` (``http://127.0.0.1:PORT``), and :meth:`stop`.

    Also a context manager: ``with serve(app) as server: ...`` stops it on exit.
    """

    url: str
    host: str
    port: int
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _sock: socket.socket = field(repr=False)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to shut down, wait for its thread (at most ``timeout`` s), close the port."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # open connections outstayed the grace period
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(app: Any, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 15.0) -> ServerHandle:
    """Run ``app`` with uvicorn in a background thread; return once ``/health`` answers.

    Args:
        app: an ASGI app, e.g. from :func:`create_app` (it must answer ``GET /health``).
        host: a loopback address; any other raises ``ValueError``.
        port: the TCP port; 0 lets the operating system pick a free one (see ``.port``).
        timeout: seconds to wait for the server to come up.

    We bind the socket ourselves and hand it to uvicorn: that is how port 0 works (uvicorn
    would need the number in advance), and there is no race with another process for the port.
    """
    import httpx
    import uvicorn

    host = _loopback(host)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in [0, 65535], got {port!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0, got {timeout!r}")

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every response waits ~40 ms for a delayed ACK (Nagle's algorithm).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    port = sock.getsockname()[1]
    url = f"http://[{host}]:{port}" if family == socket.AF_INET6 else f"http://{host}:{port}"

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"dlopt_lab-serve-{port}")
    thread.start()
    handle = ServerHandle(url=url, host=host, port=port, _server=server, _thread=thread, _sock=sock)

    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                sock.close()
                raise RuntimeError(f"the server on {url} exited while starting")
            if server.started:
                try:
                    if client.get(url + "/health").status_code == 200:
                        return handle
                except httpx.TransportError:
                    pass
            time.sleep(0.02)
    handle.stop()
    raise RuntimeError(f"the server on {url} did not answer /health within {timeout} s")


# --- load testing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """What a load test saw. Latencies are in milliseconds, over the successful requests.

    ``n_requests == n_ok + n_errors``; an error is a response with status >= 400 or a request
    that failed (refused, timed out). ``throughput`` is successful requests per second of
    wall-clock time. ``status_counts`` maps each status code (0 for a failed request) to a count.
    """

    n_requests: int
    n_ok: int
    n_errors: int
    duration_s: float
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    concurrency: int
    status_counts: dict[int, int]
    latencies_ms: tuple[float, ...] = field(repr=False)

    def __str__(self) -> str:
        return (
            f"{self.n_requests} requests ({self.n_errors} errors) in {self.duration_s:.2f} s "
            f"with {self.concurrency} clients: {self.throughput:.1f} req/s, latency p50 "
            f"{self.p50_ms:.2f} ms, p90 {self.p90_ms:.2f} ms, p99 {self.p99_ms:.2f} ms"
        )


def load_test(
    url: str,
    payloads: Sequence[Any],
    *,
    concurrency: int = 4,
    duration_s: float | None = None,
    max_requests: int = 200,
    timeout_s: float = 10.0,
) -> LoadResult:
    """POST ``payloads`` (JSON bodies, used in turn) to ``url`` from ``concurrency`` threads.

    The test is bounded twice: it sends at most ``max_requests`` requests, and stops sending
    after ``duration_s`` seconds when that is given; each request also gives up after
    ``timeout_s``. Each thread uses its own ``httpx.Client`` (keep-alive, like a real client).

    Args:
        url: the endpoint, e.g. ``server.url + "/predict"``; loopback hosts only.
        payloads: a non-empty sequence of JSON-serializable request bodies.
        concurrency: the number of clients sending at once (>= 1).
        duration_s: stop sending after this many seconds (> 0), or None for no time limit
            beyond ``max_requests`` × ``timeout_s``.
        max_requests: the total number of requests (>= 1).
    """
    import httpx
    import numpy as np

    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an http:// URL, got {url!r}")
    _loopback(parts.hostname)
    if isinstance(payloads, (str, bytes)) or not isinstance(payloads, Sequence) or not payloads:
        raise ValueError("payloads must be a non-empty sequence of JSON bodies")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    if isinstance(max_requests, bool) or not isinstance(max_requests, int) or max_requests < 1:
        raise ValueError(f"max_requests must be an integer >= 1, got {max_requests!r}")
    if duration_s is not None and not duration_s > 0:
        raise ValueError(f"duration_s must be > 0 or None, got {duration_s!r}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")

    lock = threading.Lock()
    issued = 0
    records: list[tuple[int, float]] = []  # (status, seconds); status 0: no response
    start = time.perf_counter()
    deadline = math.inf if duration_s is None else start + duration_s

    def next_index() -> int | None:
        nonlocal issued
        with lock:
            if issued >= max_requests or time.perf_counter() >= deadline:
                return None
            issued += 1
            return issued - 1

    def worker() -> None:
        with httpx.Client(trust_env=False, timeout=timeout_s) as client:
            while (i := next_index()) is not None:
                t0 = time.perf_counter()
                try:
                    status = client.post(url, json=payloads[i % len(payloads)]).status_code
                except httpx.HTTPError:
                    status = 0
                elapsed = time.perf_counter() - t0
                with lock:
                    records.append((status, elapsed))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - start

    ok = np.array([s for code, s in records if 0 < code < 400]) * 1e3
    counts: dict[int, int] = {}
    for code, _ in records:
        counts[code] = counts.get(code, 0) + 1
    p50, p90, p99 = np.percentile(ok, [50, 90, 99]).tolist() if ok.size else [math.nan] * 3
    return LoadResult(
        n_requests=len(records),
        n_ok=int(ok.size),
        n_errors=len(records) - int(ok.size),
        duration_s=duration,
        throughput=ok.size / duration,
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        mean_ms=float(ok.mean()) if ok.size else math.nan,
        concurrency=concurrency,
        status_counts=dict(sorted(counts.items())),
        latencies_ms=tuple(ok.tolist()),
    )
