"""Several collector worker processes, each with its own listening socket in one ``SO_REUSEPORT`` group.

uvicorn's own ``--workers`` shares one socket between the workers, and the kernel hands queued
connections to whichever worker is waiting in ``accept()`` first: with a few long-lived keep-alive
connections (SDKs, a load balancer) one worker ends up with nearly all of them while the others idle.
Measured here with 32 keep-alive connections and 2 workers: all 32 on one worker. With one socket per
worker in a ``SO_REUSEPORT`` group (Linux), the kernel spreads connections over the workers by their
address hash. See encode/uvicorn discussion #2467 and PR #2472 for the same fix proposed upstream.

The parent only supervises: it starts the workers, restarts one that dies, and stops them all on
SIGTERM/SIGINT (each worker shuts down gracefully, as uvicorn does).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time

log = logging.getLogger("onramp.collector")
SUPPORTED = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


STARTUP_GRACE_S = 10.0  # a worker failing sooner than this is broken, not unlucky: stop instead of looping


class PortInUse(RuntimeError):
    """The address is taken by a process outside this collector's group."""


class WorkerFailed(RuntimeError):
    """A worker died during its start-up (bad configuration, say): restarting it would only loop."""


def check_free(host: str, port: int) -> None:
    """Raise :class:`PortInUse` when anything listens on host:port already (another collector included:
    a plain bind fails where a SO_REUSEPORT one would silently join its group and split its traffic)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}; stop what uses the port "
                            "or choose another with --port / ONRAMP_COLLECTOR_PORT") from None


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not listening yet (the server listens)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}; stop what uses the port "
                        "or choose another with --port / ONRAMP_COLLECTOR_PORT") from None
    return sock


def _worker(host: str, port: int, log_level: str) -> None:  # runs in a child process
    import uvicorn

    sock = reuseport_socket(host, port)
    config = uvicorn.Config("onramp.collector.app:serve_app", factory=True, log_level=log_level, access_log=False,
                            loop="uvloop", http="httptools", timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """Run ``workers`` collector processes on host:port until SIGTERM/SIGINT."""
    check_free(host, port)
    context = multiprocessing.get_context("spawn")
    children: list[multiprocessing.Process] = []
    stopping = False

    def start(index: int) -> multiprocessing.Process:
        child = context.Process(target=_worker, args=(host, port, log_level), name=f"collector-worker-{index}")
        child.start()
        return child

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    started: list[float] = []
    try:
        for i in range(workers):
            children.append(start(i))
            started.append(time.monotonic())
        while not stopping:
            time.sleep(0.5)
            for i, child in enumerate(children):
                if not child.is_alive() and not stopping:
                    _check_exit(child, started[i])
                    children[i], started[i] = start(i), time.monotonic()
    finally:
        _stop_all(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_exit(child: multiprocessing.Process, started: float) -> None:
    """Raises :class:`WorkerFailed` for a worker that failed right at start-up; else the worker is replaced."""
    # an error exit soon after the start is a broken configuration, not bad luck: restarting would loop
    if (child.exitcode or 0) > 0 and time.monotonic() - started < STARTUP_GRACE_S:
        raise WorkerFailed(f"collector worker {child.pid} exited with code {child.exitcode} right after "
                           "it started; its error is in the log above")
    log.warning("collector worker %s exited with %s; starting a new one", child.pid, child.exitcode)


def _stop_all(children: list[multiprocessing.Process]) -> None:
    """SIGTERM every worker (uvicorn finishes in-flight requests, then exits); SIGKILL those still up after 15 s."""
    for child in children:
        if child.is_alive():
            child.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        child.join(max(0.1, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(5)
