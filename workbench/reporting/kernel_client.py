"""The kernel client papermill gets for each notebook of a run (`RunKernel`'s manager makes it).

jupyter_client's `wait_for_ready` ends by waiting until IOPub has been silent for 0.2 s, so
that messages from before the client connected do not mix with what follows. On the run's
kernel, which has just answered the namespace reset, that wait only ever costs its 0.2 s: a
second of every five-notebook run spent idle. nbclient files each IOPub message under the cell
whose request it answers (`parent_header.msg_id`) and skips the others, so a message left
over is harmless; this client drains what has already arrived instead of waiting for silence.
The handshake itself is jupyter_client's: a kernel_info request answered on shell, and one
IOPub message to prove IOPub is connected.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_async


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
