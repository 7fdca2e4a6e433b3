"""The run's one kernel (`RunKernel`): started once, warmed up with the imports every notebook
makes, its user namespace reset before each notebook (modules stay imported), replaced if it
dies. Starting a kernel and importing pandas, DuckDB, LightGBM, statsmodels and matplotlib took
most of a small run's time when each notebook had its own.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from workbench.reporting.notebooks import KERNEL_ARGUMENTS, NotebookError, execute_notebook

# Sent to a new kernel before the first notebook, while the parent process is still setting up:
# the imports every notebook makes, then, in a thread, the model libraries notebook 03 needs
# (statsmodels, scikit-learn, LightGBM: seconds of imports that overlap notebooks 01-02, whose
# DuckDB queries release the GIL). Never fails: a kernel without the workbench just skips it.
_WARM_UP = """
def _warm_up(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
_warm_up(["matplotlib.pyplot", "workbench.workflow", "workbench.plots", "workbench.reporting"])
import threading as _threading
_threading.Thread(
    target=_warm_up,
    args=(["workbench.modeling", "lightgbm", "workbench.factors", "workbench.scoring",
           "workbench.reporting.tuner"],),
    daemon=True,
).start()
del _threading, _warm_up
"""

# Sent before every notebook: forget the previous notebook's variables, figures and working
# folder; keep the imported modules. `new_session` restarts the execution counter at 1. What
# survives the collection is frozen: the garbage collector then no longer walks the ~250,000
# objects of pandas, matplotlib, LightGBM & co. in this and every later full collection
# (70 ms each, several per notebook), only what the notebooks make.
_RESET = """
import os as _os
_os.chdir({cwd!r})
try:
    import matplotlib.pyplot as _plt
    _plt.close("all")
except ImportError:
    pass
get_ipython().reset(new_session=True)
import gc as _gc
_gc.collect()  # the previous notebook's frames and DuckDB connections, freed now
_gc.freeze()  # what is left is modules and their caches, alive for the kernel's life
del _gc
import sys as _sys
if "pyarrow" in _sys.modules:  # Arrow's allocator keeps freed buffers for reuse: back to the OS
    _sys.modules["pyarrow"].default_memory_pool().release_unused()
del _sys
"""


class RunKernel:
    """One kernel for all the notebooks of a run (a context manager).

    Started once, so imports happen once; `execute` runs a notebook through papermill on it
    after resetting its user namespace. A kernel that died (a notebook ran out of memory) is
    replaced by a fresh one before the next notebook. papermill hands the manager to nbclient's
    `NotebookClient(km=...)`, which does not shut down a kernel it does not own; the client it
    opens is closed here after each notebook.
    """

    def __init__(self, kernel_name: str, cwd: str | Path | None = None, *, timeout: float = 120):
        self.kernel_name = kernel_name
        self.cwd = str(cwd or Path.cwd())  # may change before the first notebook (`reset`)
        self.timeout = timeout  # seconds a reset may wait for the kernel (start-up included)
        self.km: Any = None
        self._control: Any = None  # our own client: shell channel only, for warm-up and resets
        self.starts = 0  # kernels started (1 unless one died)

    def __enter__(self) -> RunKernel:
        if self.km is None:  # not started early by the caller
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def start(self) -> None:
        """Launch the kernel and queue the warm-up imports; returns without waiting for the
        kernel, which gets ready while the caller carries on."""
        from jupyter_core.utils import run_sync

        km = _tracked_manager()(kernel_name=self.kernel_name)
        run_sync(km.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, cwd=self.cwd)
        self.km, self.starts = km, self.starts + 1
        self._control = km.blocking_client()
        # Only Jupyter's request channel (a ZMQ socket carrying the module's own _WARM_UP and
        # _RESET code); no iopub: the notebooks' outputs are broadcast there, nobody would read them.
        self._control.shell_channel.start()
        self._control.execute(_WARM_UP, silent=True, store_history=False, allow_stdin=False)
        import papermill  # noqa: F401 - a second of imports here, while the kernel starts

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        km, self.km = self.km, None
        if km is None:
            return
        _cancel_pending()
        self._control.stop_channels()
        km.close_clients()
        try:
            # every notebook is saved by now: nothing in the kernel is worth a graceful second
            if run_sync(km.is_alive)():
                _kill_and_wait(km)
                run_sync(km.shutdown_kernel)(now=True)
        finally:
            run_sync(km.cleanup_resources)()

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return self.km is not None and bool(run_sync(self.km.is_alive)())

    def reset(self) -> None:
        """A clean user namespace in `cwd`, the modules already imported kept."""
        if not self.alive():
            self.shutdown()
            self.start()
        # the run folder enters the code only as a Python string literal (repr), as papermill
        # injects the notebooks' parameters
        msg_id = self._control.execute(
            _RESET.format(cwd=self.cwd), silent=True, store_history=False, allow_stdin=False
        )
        waited = 0.0
        while True:  # the warm-up's reply, if still unread, comes first and is skipped
            try:
                reply = self._control.get_shell_msg(timeout=1)
            except Exception:  # queue.Empty: nothing yet
                waited += 1
                if waited > self.timeout or not self.alive():
                    raise RuntimeError(
                        "the kernel did not answer (died or never started)"
                    ) from None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")

    def execute(self, src: Path, dest: Path, parameters: dict[str, Any]) -> NotebookError | None:
        """Reset the namespace, then run one notebook with papermill on this kernel."""
        try:
            self.reset()
        except Exception as exc:  # the kernel would not start or answer
            error = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            return NotebookError(
                f"notebook {src.stem} failed: {error}", notebook=src.stem, error=error
            )
        try:
            return execute_notebook(
                src, dest, parameters, self.kernel_name, Path(self.cwd), km=self.km
            )
        finally:
            self.km.close_clients()


def _kill_and_wait(km) -> None:
    """SIGKILL the kernel process and wait for it here: jupyter_client's own shutdown polls for
    its end every 0.1 s, a tenth of a second the user waited for at the end of every run. Its
    shutdown then finds the process gone and only cleans up (and signals the process group)."""
    import contextlib

    process = getattr(km.provisioner, "process", None)
    if process is None:  # not a local process (another provisioner): jupyter_client's way
        return
    with contextlib.suppress(Exception):
        process.kill()
        process.wait(timeout=5)


def _cancel_pending() -> None:
    """A notebook interrupted (Ctrl-C, SIGTERM) leaves nbclient's tasks waiting on the kernel in
    this thread's event loop; cancelled and awaited before the kernel goes, none of them reports
    its death ("Task exception was never retrieved") when the process exits."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    if loop.is_running():
        return
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


@functools.cache
def _tracked_manager() -> type:
    """AsyncKernelManager (what nbclient expects) that remembers the clients it made, each
    ready without the idle 0.2 s (`papermill_run.QuickReadyClient`)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    from workbench.reporting.papermill_run import QuickReadyClient

    class TrackedKernelManager(AsyncKernelManager):
        @default("client_factory")
        def _quick_ready_client(self) -> type:
            return QuickReadyClient

        def client(self, **kwargs):
            kc = super().client(**kwargs)
            self.__dict__.setdefault("_open_clients", []).append(kc)
            return kc

        def close_clients(self) -> None:
            for kc in self.__dict__.pop("_open_clients", []):
                if kc.channels_running:
                    kc.stop_channels()

    return TrackedKernelManager
