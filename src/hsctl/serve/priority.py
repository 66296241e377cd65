"""While the server sheds load, its event loop yields the CPU to inference.

Under overload, clients that get a 503 at once come straight back; answering them
costs the event loop CPU that the inference threads need, so on a small machine
a flood of rejections can starve the model and shrink goodput. While shedding,
the event-loop thread therefore runs ``serve.loop_nice`` steps nicer than the
inference threads (on Linux niceness is per thread; ONNX Runtime's and the
tokenizer's pools and the inference thread keep theirs). Once nothing has been
shed for a few seconds it returns to its normal priority, where the process may
raise its own priority again (root, or ``CAP_SYS_NICE``); elsewhere it stays
nicer, which only matters on a machine whose CPU is short anyway.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

logger = logging.getLogger("hsctl.serve")


class LoopPriority:
    """Call :meth:`shed` on every request shed and :meth:`calm` on every request admitted, from the loop thread."""

    def __init__(self, nice: int, *, restore_after_s: float = 5.0) -> None:
        self.nice = nice
        self.restore_after_s = restore_after_s
        self.enabled = nice > 0 and sys.platform.startswith("linux")
        self.lowered = False
        self.can_restore = True
        self._tid = 0
        self._base = 0
        self._last_shed = 0.0

    def shed(self) -> None:
        """A request was shed: lower the calling (event-loop) thread's priority if it is not lowered yet."""
        if not self.enabled:
            return
        self._last_shed = time.monotonic()
        if self.lowered:
            return
        tid = threading.get_native_id()
        try:
            base = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, base + self.nice))
        except OSError:
            self.enabled = False
            return
        self._tid, self._base, self.lowered = tid, base, True
        logger.info("shedding load: the event loop yields the CPU to inference (niceness +%d)", self.nice)

    def calm(self) -> None:
        """A request was admitted: restore the priority once nothing has been shed for a while."""
        if not self.lowered or not self.can_restore or time.monotonic() - self._last_shed < self.restore_after_s:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, self._tid, self._base)
        except OSError:  # raising a priority needs CAP_SYS_NICE: stay nicer
            self.can_restore = False
            return
        self.lowered = False
        logger.info("load is back under the limit: the event loop runs at its normal priority again")
