"""Progress of long work inside the notebooks, shown by ``avsc run`` while they execute.

The notebooks run in a Jupyter kernel, a process of their own. ``avsc run`` names a file in the
environment variable ``AVSC_PROGRESS_FILE``; training (``fitting.EpochProgress``, one report per
epoch) and feature, frame and decoding extraction (:class:`Progress`) write their state there,
atomically, as JSON. A :class:`Monitor` thread in ``avsc run`` reads it twice a second and
shows it: updated in place on a terminal, and one line per epoch (per tenth of an extraction)
appended to ``run.log`` in the run folder, and printed, when the output is not a terminal.
Without ``AVSC_PROGRESS_FILE`` (a notebook run by hand, a test) reporting does nothing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from avsc_lib.core.atomic import write_text

PROGRESS_ENV = "AVSC_PROGRESS_FILE"


def report(state: dict[str, Any]) -> None:
    """Write one progress state (``task``, ``done``, ``total``, ``unit`` and more) for ``avsc run``."""
    path = os.environ.get(PROGRESS_ENV)
    if path:
        try:
            write_text(path, json.dumps({**state, "time": time.time()}, default=float))
        except OSError:
            pass  # progress is a display; it never stops the work


def clock(seconds: float | None) -> str:
    """Seconds as ``1:02:03`` or ``2:03``."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe(state: dict[str, Any]) -> str:
    """One line for a progress state: task, n of N, the last scores, elapsed and remaining time."""
    done, total = state.get("done", 0), state.get("total") or 0
    line = f"{state.get('task', '?')}: {state.get('unit', 'item')} {done} of {total}"
    if state.get("val_accuracy") is not None:
        line += f", val accuracy {100 * state['val_accuracy']:.1f} %"
    if state.get("val_loss") is not None:
        line += f", val loss {state['val_loss']:.3f}"
    line += f", {clock(state.get('elapsed'))} elapsed"
    if state.get("remaining") is not None and done < total:
        line += f", about {clock(state['remaining'])} left"
        if state.get("at_most"):
            line += " at most"
    return line


class Progress:
    """Progress of a loop over ``total`` items, reported at most every second (and at the end).

    Args:
        task: what is done, e.g. ``gammatone features``.
        total: the number of items.
        unit: what an item is (``clip``).
    """

    def __init__(self, task: str, total: int, unit: str = "clip"):
        self.task, self.total, self.unit = task, int(total), unit
        self.done = 0
        self.started, self.last = time.perf_counter(), float("-inf")  # the first item reports at once

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        self.done += n
        now = time.perf_counter()
        if now - self.last >= 1.0 or self.done >= self.total:
            self.last = now
            elapsed = now - self.started
            remaining = elapsed / self.done * (self.total - self.done) if self.done else None
            report({"task": self.task, "done": self.done, "total": self.total, "unit": self.unit,
                    "elapsed": elapsed, "remaining": remaining})


class Monitor:
    """Show the progress the notebooks report while ``avsc run`` waits for them.

    Use as a context manager around the execution; it sets ``AVSC_PROGRESS_FILE`` for the
    kernels it starts.

    Args:
        path: the progress file (in the run folder).
        log: the log file, one line per epoch or tenth of an extraction.
        stream: where the display goes (default stdout); in place when it is a terminal.
        interval: seconds between looks at the file.
    """

    def __init__(self, path: str | Path, log: str | Path, stream: TextIO | None = None, interval: float = 0.5):
        self.path, self.log, self.stream, self.interval = Path(path), Path(log), stream or sys.stdout, interval
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: float | None = None
        self._logged: tuple | None = None
        self._width = 0

    def __enter__(self) -> "Monitor":
        self.path.unlink(missing_ok=True)
        os.environ[PROGRESS_ENV] = str(self.path)
        self._thread = threading.Thread(target=self._run, name="avsc-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()
        self.clear()
        os.environ.pop(PROGRESS_ENV, None)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Look at the progress file once and show what is new."""
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if state.get("time") == self._seen:
            return
        self._seen = state.get("time")
        line = describe(state)
        if self._milestone(state):
            with open(self.log, "a") as handle:
                handle.write(f"{time.strftime('%H:%M:%S')} {line}\n")
            if not self.tty:
                self.stream.write(line + "\n")
                self.stream.flush()
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self.stream.flush()
            self._width = len(line)

    def _milestone(self, state: dict[str, Any]) -> bool:
        """Whether a state earns a log line: every epoch; every tenth of other work, and its end."""
        done, total = state.get("done", 0), max(int(state.get("total") or 1), 1)
        step = done if state.get("unit") == "epoch" else (10 * done) // total
        key = (state.get("task"), step)
        if key == self._logged:
            return False
        self._logged = key
        return True

    def clear(self) -> None:
        """Finish an in-place line so the next output starts on a fresh one."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
