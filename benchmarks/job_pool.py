"""Jobs in a pool against jobs in waves: wall time of the same uneven jobs with the same number of slots.

Labelling and exploration keep ``max_concurrent`` jobs running and submit the next one as soon as one ends
(``aiida_mlipgen.workflows.job_pool.JobPoolWorkChain``). Before, they submitted a wave of ``max_concurrent`` jobs
and waited for all of it. This script runs one list of jobs of uneven length (``sleep`` inside real AiiDA
``CalcJob``s on the local computer, so CPU load barely matters) both ways, in the same process, and prints the
wall times, their ratio, and the lower bound of a perfect pool (greedy list scheduling of the same durations).

    .venv/bin/python benchmarks/job_pool.py                 # 12 jobs, 3 slots
    .venv/bin/python benchmarks/job_pool.py --slots 2 --repeats 2

A throw-away in-memory AiiDA profile is used: nothing is written to your profiles.
"""

from __future__ import annotations

import argparse
import heapq
import shutil
import tempfile
import time
from pathlib import Path

from aiida import load_profile, orm
from aiida.engine import ToContext, run_get_node, while_
from aiida.manage import get_manager
from aiida.plugins import CalculationFactory
from aiida.storage.sqlite_temp import SqliteTempBackend

from aiida_mlipgen.workflows.job_pool import JobPoolWorkChain

ArithmeticAddCalculation = CalculationFactory('core.arithmetic.add')

#: Seconds each job sleeps: the spread of SCF times of hot and cold frames (a few long ones among short ones).
DURATIONS_S = (4, 12, 5, 6, 14, 4, 7, 5, 13, 6, 4, 8)


def submit_sleep(process, code: orm.AbstractCode, key: str, seconds: int):
    """Submit one job that sleeps ``seconds`` and then adds two numbers."""
    return process.submit(
        ArithmeticAddCalculation,
        code=code,
        x=orm.Int(seconds),
        y=orm.Int(1),
        metadata={'call_link_label': key, 'options': {'prepend_text': f'sleep {seconds}'}},
    )


class PoolOfSleeps(JobPoolWorkChain):
    """The jobs through the job pool."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('code', valid_type=orm.AbstractCode)
        spec.input('durations', valid_type=orm.List)
        spec.input('max_concurrent', valid_type=orm.Int)
        spec.outline(cls.start, while_(cls.pool_is_busy)(cls.pool_step))

    def start(self):
        self.pool_start([f'job_{index:03d}' for index in range(len(self.inputs.durations))])

    def pool_submit(self, key):
        return submit_sleep(self, self.inputs.code, key, self.inputs.durations[int(key[4:])])

    def pool_collect(self, key, node):
        assert node.is_finished_ok, f'{key} failed: {node.exit_message}'


class WavesOfSleeps(PoolOfSleeps):
    """The same jobs in waves of ``max_concurrent``, each wave awaited in full (how the stages worked before)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.outline(cls.start, while_(cls.has_waiting)(cls.submit_wave))

    def has_waiting(self):
        return bool(self.ctx.pool_waiting)

    def submit_wave(self):
        wave = self.ctx.pool_waiting[: self.pool_size()]
        self.ctx.pool_waiting = self.ctx.pool_waiting[self.pool_size() :]
        return ToContext(**{key: self.pool_submit(key) for key in wave})


def perfect_pool_s(durations, slots: int) -> float:
    """Makespan of greedy list scheduling in submission order, with no overhead: the pool's lower bound (s)."""
    ends = [0.0] * slots
    for duration in durations:
        heapq.heappush(ends, heapq.heappop(ends) + duration)
    return max(ends)


def waves_ideal_s(durations, slots: int) -> float:
    """Sum over waves of the longest job in each wave: the waves' lower bound (s)."""
    return float(sum(max(durations[start : start + slots]) for start in range(0, len(durations), slots)))


def set_up(workdir: Path) -> orm.InstalledCode:
    """A temporary profile, a localhost computer polled every 0.5 s, and ``bash`` as the add code."""
    load_profile(SqliteTempBackend.create_profile('job-pool-benchmark'), allow_switch=True)
    # Without a broker, a work chain learns that a child ended by polling it: every 0.5 s here, as `mlipgen
    # setup` profiles do (the default of 60 s would hide the difference between pool and waves).
    manager = get_manager()
    manager.set_runner(manager.create_runner(poll_interval=0.5))
    computer = orm.Computer(
        label='localhost',
        hostname='localhost',
        transport_type='core.local',
        scheduler_type='core.direct',
        workdir=str(workdir),
    ).store()
    computer.set_minimum_job_poll_interval(0.5)
    computer.configure(safe_interval=0)
    return orm.InstalledCode(
        computer=computer,
        filepath_executable=shutil.which('bash'),
        default_calc_job_plugin='core.arithmetic.add',
        label='bash',
    ).store()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--slots', type=int, default=3, help='max_concurrent (default 3)')
    parser.add_argument('--repeats', type=int, default=1, help='runs of each, alternating (default 1)')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        code = set_up(Path(workdir))
        durations = orm.List(list(DURATIONS_S))
        walls = {'waves': [], 'pool': []}
        for _ in range(args.repeats):
            for name, process in (('waves', WavesOfSleeps), ('pool', PoolOfSleeps)):
                start = time.perf_counter()
                _, node = run_get_node(process, code=code, durations=durations, max_concurrent=orm.Int(args.slots))
                walls[name].append(time.perf_counter() - start)
                assert node.is_finished_ok, node.exit_message

    waves, pool = min(walls['waves']), min(walls['pool'])
    print(f'{len(DURATIONS_S)} jobs of {", ".join(map(str, DURATIONS_S))} s, {args.slots} slots')
    print(f'waves: {waves:6.1f} s wall (no-overhead bound {waves_ideal_s(DURATIONS_S, args.slots):5.1f} s)')
    print(f'pool:  {pool:6.1f} s wall (no-overhead bound {perfect_pool_s(DURATIONS_S, args.slots):5.1f} s)')
    print(f'pool / waves wall time: {pool / waves:.2f}')


if __name__ == '__main__':
    main()
