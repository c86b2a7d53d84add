"""A helper process per ``kedro run`` that does the run's MLflow work off its critical path.

MLflow's start-up (import mlflow, its SQLAlchemy store: about 2 s of CPU) used to sit before
the first node. Under ``kedro run``, the hook forks this helper when the context is created:
it imports mlflow on the other core while Kedro loads the pipelines and the catalog, then
opens the run, logs tags and params, uploads each save's snapshot and ends the run, told by
messages over a pipe. The ``kedro run`` process itself never imports mlflow, unless a node
does: then it makes the kedro run its active run (``adopt_on_import``), as before.

Lifetime: the helper ignores Ctrl-C and SIGTERM (the ``kedro run`` process decides how the
run ends and tells it), and leaves when its pipe closes: when the run ends, or when the
``kedro run`` process is gone, whatever killed it (it then ends the run FAILED). The
``kedro run`` process waits for it to exit, so no process outlives the run. If the helper
dies, the run fails naming what was not logged. ``KEDRO_MLFLOW_HELPER=0`` keeps everything
in the ``kedro run`` process (as with ``KedroSession.run()`` from Python, or a
``ParallelRunner``).
"""

from __future__ import annotations

import atexit
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, Pipe
from types import ModuleType
from typing import Any

from kedro.io import DatasetError

from kedro_mlflow.exceptions import MlflowConfigError

logger = logging.getLogger(__name__)

#: ``0``: no helper process; the kedro run's MLflow work stays in its own process.
HELPER_ENV = "KEDRO_MLFLOW_HELPER"
#: How long the kedro run waits for a helper that was told to leave, before killing it.
EXIT_WAIT_S = 5.0

#: The exceptions a helper's failure is raised as in the kedro run process.
_ERRORS: dict[str, type[Exception]] = {
    "MlflowConfigError": MlflowConfigError,
    "DatasetError": DatasetError,
}


def error(kind: str, message: str) -> Exception:
    """The exception a failure of the helper is raised as: the class it had there."""
    return _ERRORS.get(kind, DatasetError)(message)


def wanted() -> bool:
    """Whether this process may fork a helper (``kedro run``, Linux, one thread, no mlflow)."""
    if os.environ.get(HELPER_ENV, "1").lower() in {"0", "false", "no"}:
        return False
    if not sys.platform.startswith("linux") or "mlflow" in sys.modules:
        return False
    if threading.active_count() != 1:
        return False  # forking a process with threads can deadlock the child
    click = sys.modules.get("click")
    context = click.get_current_context(silent=True) if click is not None else None
    if context is None or context.info_name != "run":
        return False
    return "Parallel" not in str(context.params.get("runner") or "")


class Helper:
    """The ``kedro run`` process's end of the pipe to its helper.

    Thread-safe: ``ThreadRunner`` workers and ``--async`` save threads send through it.
    """

    def __init__(self, pid: int, conn: Connection) -> None:
        self.pid = pid
        self._conn = conn
        self._lock = threading.RLock()
        self._failure: tuple[str, str] | None = None
        self._run_id: str | None = None
        self._sent: list[str] = []
        self._dead: str | None = None
        #: Whether a save already raised the failure to open the run.
        self.failure_raised = False
        #: Whether a ``kedro run`` took this helper (else it is closed unused).
        self.taken = False

    # -- messages -------------------------------------------------------------

    def call(self, method: str, *args: Any) -> None:
        """Ask the helper to run ``method`` (no answer awaited); raise its failure, if any."""
        with self._lock:
            self._collect()
            self.raise_failure()
            self._send((method, args, False))

    def ask(self, method: str, *args: Any) -> Any:
        """Ask the helper to run ``method`` and return its answer."""
        with self._lock:
            self._send((method, args, True))
            while True:
                kind, value = self._receive()
                if kind == "answer":
                    return value

    def _send(self, message: tuple[str, tuple[Any, ...], bool]) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise self._died(exc) from exc

    def _receive(self) -> tuple[str, Any]:
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._died(exc) from exc
        if kind == "failed":
            self._failure = value
        return kind, value

    def _collect(self) -> None:
        """Read what the helper said unasked (a failure to open the run)."""
        try:
            while self._conn.poll():
                self._receive()
        except (EOFError, OSError) as exc:
            raise self._died(exc) from exc

    def already_raised(self, kind: str | None, message: str | None) -> bool:
        """Whether ``kind``, ``message`` is the failure a save already raised."""
        return self.failure_raised and self._failure == (kind, message)

    def raise_failure(self) -> None:
        """Raise the helper's failure to open the run, as the error it was there."""
        if self._failure is not None:
            self.failure_raised = True
            raise error(*self._failure)

    def _died(self, exc: BaseException) -> DatasetError:
        if self._dead is None:
            status = _reap(self.pid, 0.5)
            sent = ", ".join(self._sent) or "nothing"
            self._dead = (
                f"kedro-mlflow's helper process (pid {self.pid}) that logs this kedro run into "
                f"MLflow ended unexpectedly ({status or exc}). MLflow run "
                f"'{self._run_id or 'of this kedro run'}' may not hold what was saved since "
                f"it started ({sent}); the data is saved locally. The run stays RUNNING "
                f"until `kedro mlflow runs --close-stale` ends it FAILED; run the pipeline "
                f"again to log it, or set {HELPER_ENV}=0 to log from the kedro run process."
            )
        return DatasetError(self._dead)

    # -- what the datasets use (``_queue.Forwarder``) -------------------------------

    def send(self, upload: Any) -> None:
        """Hand one save's (snapshotted) files over to the helper to upload."""
        with self._lock:
            self.call("log", upload)
            self._sent.extend(f"'{artifact}'" for _, artifact in upload.files)

    def not_logged(self, artifacts: tuple[str, ...], why: str) -> None:
        """Tell the helper a save logged nothing, for the run's report; never raises."""
        with self._lock:
            try:
                self._send(("not_logged", (artifacts, why), False))
            except DatasetError:
                pass  # the helper is gone: its death is what the run reports

    def run_id(self) -> str | None:
        """The kedro run's MLflow run id, once the helper opened it."""
        with self._lock:
            if self._run_id is None:
                self._run_id = self.ask("run_id")
            return self._run_id

    def wait_for_artifact(self, artifact: str) -> bool:
        with self._lock:
            found, problem = self.ask("wait_for_artifact", artifact)
        if problem is not None:
            raise DatasetError(problem)
        return bool(found)

    def log_metrics(self, save: Any) -> None:
        """Have the helper log one metric dataset's save into the run; raise its error."""
        with self._lock:
            self._collect()
            self.raise_failure()
            problem = self.ask("log_metrics", save)
        if problem is not None:
            raise DatasetError(problem)

    # -- the end --------------------------------------------------------------------

    def finish(
        self, status: str, *, interrupted: bool
    ) -> tuple[str | None, str | None, str | None]:
        """End the run ``status`` in the helper, wait for it to exit.

        Returns:
            The run id (``None`` if no run was opened), and the kind and message of what
            went wrong, if anything.
        """
        try:
            run_id, kind, message = self.ask("end", status, interrupted)
        finally:
            self.close()
        return run_id, kind, message

    def close(self, *, unused: bool = False) -> None:
        """Close the pipe (the helper leaves), wait for it; kill it if it does not leave.

        Args:
            unused: No run was given to it: it only imports, killed at once.
        """
        with self._lock:
            self._conn.close()
        if unused or _reap(self.pid, EXIT_WAIT_S) is None:
            _kill(self.pid)


# -- the process ---------------------------------------------------------------------

_pending: Helper | None = None
_pending_pid: int | None = None


def fork(service: Callable[[], Any], warm_up: Sequence[str]) -> None:
    """Fork a helper that imports ``warm_up`` then serves calls on ``service()``.

    Kept until ``take`` hands it to a ``kedro run``; killed at exit if never taken.
    """
    global _pending, _pending_pid
    discard()
    parent, child = Pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else the child would write again what the parent had buffered
    pid = os.fork()
    if pid == 0:  # the child (coverage follows it: `patch = ["fork", "_exit"]`)
        parent.close()
        _serve(child, service, warm_up)
    child.close()
    _pending, _pending_pid = Helper(pid, parent), os.getpid()
    atexit.register(discard)


def take() -> Helper | None:
    """The helper forked for this process's ``kedro run`` (once), if any."""
    global _pending
    helper, _pending = _pending, None
    if helper is None or _pending_pid != os.getpid():
        return None
    atexit.unregister(discard)
    return helper


def discard() -> None:
    """Stop a helper that no run took (tracking disabled, a ``ParallelRunner``, an error)."""
    global _pending
    helper, _pending = _pending, None
    if helper is not None and _pending_pid == os.getpid():
        helper.close(unused=True)


def _serve(conn: Connection, service: Callable[[], Any], warm_up: Sequence[str]) -> None:
    """The helper's life: import, then run each call until the pipe closes; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name in warm_up:
            importlib.import_module(name)
        target = service()
        while True:
            try:
                method, args, answer = conn.recv()
            except (EOFError, OSError):
                target.lost()  # the kedro run process is gone
                break
            result = getattr(target, method)(*args)
            if answer:
                conn.send(("answer", result))
            failure = target.new_failure()
            if failure is not None:
                conn.send(("failed", failure))
            if method == "end":
                break
    except BaseException:
        logger.exception("kedro-mlflow's helper process failed")
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: S110 - the terminal may be gone
                pass
        os._exit(code)


def _reap(pid: int, timeout: float) -> str | None:
    """Wait up to ``timeout`` s for ``pid`` to exit; how it exited, or ``None`` if it did not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "already reaped"
        if done:
            if os.WIFSIGNALED(status):
                return f"killed by signal {os.WTERMSIG(status)}"
            return f"exit status {os.waitstatus_to_exitcode(status)}"
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# -- a node that imports mlflow ----------------------------------------------------------


class _OnImport(importlib.abc.MetaPathFinder):
    """Calls ``then`` once ``mlflow`` is imported in this process (by a node, or for a load)."""

    def __init__(self, then: Callable[[], None]) -> None:
        self.then = then

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "mlflow":
            return None
        remove_import_hook()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenLoader(spec.loader, self.then)
        return spec


class _ThenLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, then: Callable[[], None]) -> None:
        self.loader = loader
        self.then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module looks as if imported normally (importlib.resources reads its loader).
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.then()


def call_on_mlflow_import(then: Callable[[], None]) -> None:
    """Call ``then`` right after this process imports mlflow (for the current run)."""
    remove_import_hook()
    sys.meta_path.insert(0, _OnImport(then))


def remove_import_hook() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _OnImport)]
