"""Background processes Onramp starts (Airflow's four, the collector): pidfiles and process groups.

Each process runs in its own session (process group) with its pid in ``<home>/run/<name>.pid`` and
its output in a log file, so :func:`stop` can end it and every child it forked, and a later
command finds what an earlier one started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from onramp.settings import PROJECT_ROOT, Settings


class ServiceStartError(RuntimeError):
    """A background service did not come up; the message names its log."""


def run_dir(settings: Settings) -> Path:
    return settings.home_path / "run"


def pidfile(settings: Settings, name: str) -> Path:
    return run_dir(settings) / f"{name}.pid"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie still answers kill(0); treat it as gone (the state follows the parenthesised command name)
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (zombies, which only wait to be reaped, do not count)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid and alive(int(entry.name)):
                members.append(int(entry.name))
        except OSError:
            continue
    return members


def running(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    """Those of ``names`` started by Onramp that are still alive, with their pids."""
    found = {}
    for name in names:
        try:
            pid = int(pidfile(settings, name).read_text())
        except (OSError, ValueError):
            continue
        if alive(pid):
            found[name] = pid
    return found


def spawn(settings: Settings, name: str, argv: list[str], env: dict[str, str], log: Path) -> int:
    """Start ``argv`` in its own process group, output appended to ``log``; returns its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(PROJECT_ROOT))
    pidfile(settings, name).write_text(str(proc.pid))
    return proc.pid


def stop(settings: Settings, names: Iterable[str], timeout: float = 30) -> list[str]:
    """SIGTERM each named process group, SIGKILL what is left after ``timeout``; returns the names stopped."""
    groups = {}
    for name in names:
        path = pidfile(settings, name)
        try:
            pid = int(path.read_text())
        except (OSError, ValueError):
            continue
        if group_members(pid):
            groups[name] = pid
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
        path.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(group_members(g) for g in groups.values()):
        time.sleep(0.3)
    for pgid in groups.values():
        if group_members(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
    return list(groups)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_http_service(settings: Settings, name: str, args: list[str], health_url: str, log: Path,
                       timeout: float = 60) -> None:
    """Run ``onramp <args>`` in the background (unless it runs already) until ``health_url`` answers 200.

    The process gets every setting in its environment, so it serves what this command was configured with.
    """
    if running(settings, [name]).get(name) is None:
        if _answers(health_url):
            raise ServiceStartError(f"something else answers at {health_url}; stop it or choose another port")
        env = dict(os.environ)
        env.update(settings.as_env())
        binary = Path(sys.executable).with_name("onramp")
        spawn(settings, name, [str(binary), *args], env, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(health_url):
            return
        if running(settings, [name]).get(name) is None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise ServiceStartError(f"the {name} exited during start-up; {log} ends:\n{tail}")
        time.sleep(0.3)
    raise ServiceStartError(f"the {name} did not answer at {health_url} within {timeout:.0f}s; see {log}")
