"""How papermill runs each notebook of a `workbench run` on the run's one kernel (`RunKernel`).

`QuickReadyClient`, the kernel client papermill gets for each notebook: jupyter_client's
`wait_for_ready` ends by waiting until IOPub has been silent for 0.2 s, so that messages from
before the client connected do not mix with what follows. On the run's kernel, which has just
answered the namespace reset, that wait only ever costs its 0.2 s: a second of every
five-notebook run spent idle. nbclient files each IOPub message under the cell whose request
it answers (`parent_header.msg_id`) and skips the others, so a message left over is harmless;
this client drains what has already arrived instead of waiting for silence. The handshake
itself is jupyter_client's: a kernel_info request answered on shell, and one IOPub message to
prove IOPub is connected.

`RunEngine`, papermill's nbclient engine with fewer saves: papermill writes the whole executed
notebook (figures included, up to half a megabyte of JSON) when every cell starts and when it
ends, while the kernel waits: about a second of a CDNOW run. Here a cell's start or end writes
it only when the last write is `SAVE_EVERY` seconds old, so a long cell still leaves its copy
behind. The notebook's start (no outputs yet) is not written, and its end is written once:
`papermill.execute_notebook` writes the executed notebook after the engine returns (also when
a cell failed: with the error cell first), so the engine writes it itself only when execution
broke off (a kernel that died, an interruption).
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_async
from papermill.engines import NBClientEngine, NotebookExecutionManager

SAVE_EVERY = 5.0  # seconds between the executed notebook's writes at cell boundaries


class QuickReadyClient(AsyncKernelClient):
    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.time() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:  # IOPub connected: the kernel's busy status for that request arrives
                        await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.time() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:  # what has already arrived, without waiting for 0.2 s of silence
            try:
                await ensure_async(self.iopub_channel.get_msg(timeout=0))
            except Empty:
                break

    # AsyncKernelClient binds `wait_for_ready` to the base class's coroutine function
    wait_for_ready = _async_wait_for_ready


class _FewerSaves(NotebookExecutionManager):
    """Writes at a cell's start or end only when the last write is SAVE_EVERY seconds old;
    at the notebook's end only when execution broke off (`broke_off`), since papermill writes
    the finished notebook itself right after."""

    broke_off = True  # until the engine says the notebook ran to its end
    ending = False

    def save(self, **kwargs):
        if self.ending:  # the end: written here only when papermill will not write it
            if self.broke_off:
                super().save(**kwargs)
            return
        if (self.now() - self.last_save_time).total_seconds() >= SAVE_EVERY:
            super().save(**kwargs)

    def notebook_complete(self, **kwargs):
        self.ending = True  # the metadata (end time, status) is set either way
        super().notebook_complete(**kwargs)


class RunEngine(NBClientEngine):
    """papermill's nbclient engine (`engine_name="workbench"`) with `_FewerSaves`; the rest is
    papermill's `Engine.execute_notebook`."""

    @classmethod
    def execute_notebook(
        cls,
        nb,
        kernel_name,
        output_path=None,
        progress_bar=True,
        log_output=False,
        autosave_cell_every=30,
        **kwargs,
    ):
        nb_man = _FewerSaves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            nb_man.broke_off = False
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


def register_engine() -> str:
    """Register `RunEngine` with papermill (once per process); its engine name."""
    from papermill.engines import papermill_engines

    papermill_engines.register("workbench", RunEngine)
    return "workbench"
