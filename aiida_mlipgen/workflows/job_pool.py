"""A pool of child processes that tops up as each one ends, instead of submitting in waves.

A plain ``WorkChain`` step that returns ``ToContext`` resumes only when *every* child it awaits has terminated.
Submitting ``max_concurrent`` jobs that way (a wave) leaves slots idle behind the slowest job of each wave. The
``JobPoolWorkChain`` base instead keeps up to ``max_concurrent`` children running: it resumes as soon as *any*
awaited child ends, collects every child that has ended by then, submits the next ones into the free slots and
waits again.

Subclasses call :meth:`JobPoolWorkChain.pool_start` with the job keys, put ``while_(cls.pool_is_busy)(cls.pool_step)``
in their outline and implement :meth:`pool_submit` (submit one job, return its node) and :meth:`pool_collect` (look
at one terminated job). Jobs are submitted in the order of their keys and collected in the order they end.

The pool's state (keys waiting, keys running with their pks) lives in the context, so a daemon restart resumes it:
the restarted work chain waits again for the children it had submitted and never submits a job twice.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ProcessState, ToContext, WorkChain

#: Prefix of the context keys of awaited pool children (followed by the child's pk, a valid context key).
POOL_CONTEXT_PREFIX = 'pool_child_'


class JobPoolWorkChain(WorkChain):
    """Base work chain that keeps up to ``max_concurrent`` child processes running, topping up as each one ends."""

    def pool_start(self, keys) -> None:
        """Queue the jobs named ``keys`` (strings), to be submitted in this order."""
        self.ctx.pool_waiting = list(keys)
        self.ctx.pool_running = {}

    def pool_size(self) -> int:
        """How many jobs may run at once (the ``max_concurrent`` input)."""
        return self.inputs.max_concurrent.value

    def pool_is_busy(self) -> bool:
        """Whether jobs are waiting to be submitted or still running."""
        return bool(self.ctx.pool_waiting or self.ctx.pool_running)

    def pool_submit(self, key: str) -> orm.ProcessNode:
        """Submit the job ``key`` and return its node."""
        raise NotImplementedError

    def pool_collect(self, key: str, node: orm.ProcessNode) -> None:
        """Look at the terminated job ``key`` (finished, failed, excepted or killed)."""
        raise NotImplementedError

    def pool_step(self):
        """Collect the jobs that have ended, fill the free slots, and wait until the next job ends."""
        for key, pk in sorted(self.ctx.pool_running.items(), key=lambda item: item[1]):
            node = orm.load_node(pk)
            if node.is_terminated:
                del self.ctx.pool_running[key]
                self.pool_collect(key, node)
        submitted = []
        while self.ctx.pool_waiting and len(self.ctx.pool_running) < self.pool_size():
            key = self.ctx.pool_waiting.pop(0)
            node = self.pool_submit(key)
            self.ctx.pool_running[key] = node.pk
            submitted.append(f'{key}<{node.pk}>')
        if submitted:
            self.report(
                f'submitted {", ".join(submitted)}; {len(self.ctx.pool_running)} running, '
                f'{len(self.ctx.pool_waiting)} waiting'
            )
        for key in [key for key in self.ctx if key.startswith(POOL_CONTEXT_PREFIX)]:
            del self.ctx[key]
        if not self.ctx.pool_running:
            return None
        return ToContext(**{f'{POOL_CONTEXT_PREFIX}{pk}': orm.load_node(pk) for pk in self.ctx.pool_running.values()})

    def _on_awaitable_finished(self, awaitable) -> None:
        """Resume as soon as one pool child ends, instead of when all of them have.

        The other children keep running; the next :meth:`pool_step` collects those that have ended and awaits the
        rest again. A callback registered by an earlier wait, for a child no longer awaited, is ignored. This
        refines ``WorkChain._on_awaitable_finished`` of aiida-core, which resumes only once no awaitable is left.
        """
        current = next((pending for pending in self._awaitables if pending == awaitable), None)
        if current is None:
            return
        super()._on_awaitable_finished(current)
        is_pool_child = str(current.key).startswith(POOL_CONTEXT_PREFIX)
        only_pool_children = all(str(pending.key).startswith(POOL_CONTEXT_PREFIX) for pending in self._awaitables)
        if is_pool_child and self._awaitables and only_pool_children and self.state == ProcessState.WAITING:
            self._awaitables.clear()
            self._update_process_status()
            self.resume()
