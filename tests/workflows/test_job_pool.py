"""The job pool tops up as each job ends: a long job does not hold back the short ones behind it."""

from __future__ import annotations

import shutil

import pytest
from aiida import orm
from aiida.engine import run_get_node, while_
from aiida.plugins import CalculationFactory

from aiida_mlipgen.workflows.job_pool import JobPoolWorkChain

ArithmeticAddCalculation = CalculationFactory('core.arithmetic.add')

#: Seconds each job sleeps: one long job first, then short ones that must not wait for it.
SLEEP_S = {'job_0': 30, 'job_1': 0, 'job_2': 0, 'job_3': 0}


class SleepPoolWorkChain(JobPoolWorkChain):
    """Runs one ``ArithmeticAddCalculation`` per key of ``sleeps``, each sleeping first, two at a time."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('code', valid_type=orm.AbstractCode)
        spec.input('sleeps', valid_type=orm.Dict)
        spec.input('max_concurrent', valid_type=orm.Int)
        spec.outline(cls.start, while_(cls.pool_is_busy)(cls.pool_step), cls.finish)
        spec.output('sums', valid_type=orm.Dict)

    def start(self):
        self.ctx.sums = {}
        self.pool_start(sorted(self.inputs.sleeps.get_dict()))

    def pool_submit(self, key):
        seconds = self.inputs.sleeps[key]
        return self.submit(
            ArithmeticAddCalculation,
            code=self.inputs.code,
            x=orm.Int(seconds),
            y=orm.Int(1),
            metadata={'call_link_label': key, 'options': {'prepend_text': f'sleep {seconds}'}},
        )

    def pool_collect(self, key, node):
        self.ctx.sums[key] = node.outputs.sum.value if node.is_finished_ok else None

    def finish(self):
        self.out('sums', orm.Dict(self.ctx.sums).store())


@pytest.fixture
def bash_code(aiida_code_installed):
    # A label of its own: another test's `bash` code may sit on a computer that is gone by now (a local SLURM).
    code = aiida_code_installed(
        label='job-pool-bash', default_calc_job_plugin='core.arithmetic.add', filepath_executable=shutil.which('bash')
    )
    # Poll the scheduler and open the transport without delays, so that a short job ends within seconds.
    code.computer.set_minimum_job_poll_interval(0.5)
    code.computer.configure(safe_interval=0.0)
    return code


def test_short_jobs_run_while_the_long_one_does(bash_code):
    """With two slots, job 2 starts as soon as job 1 ends, while job 0 (30 s) still runs; a wave would wait for it."""
    results, node = run_get_node(
        SleepPoolWorkChain, code=bash_code, sleeps=orm.Dict(SLEEP_S), max_concurrent=orm.Int(2)
    )
    assert node.is_finished_ok, node.exit_message
    assert results['sums'].get_dict() == {key: seconds + 1 for key, seconds in SLEEP_S.items()}

    jobs = {link.link_label: link.node for link in node.base.links.get_outgoing(link_label_filter='job_%').all()}
    assert sorted(jobs) == sorted(SLEEP_S)
    assert jobs['job_2'].ctime < jobs['job_0'].mtime, 'job_2 was submitted after the long job ended: a wave'
    # Never more than two jobs at once: each job after the first two starts after an earlier one ended.
    ends = sorted(job.mtime for job in jobs.values())
    starts = sorted(job.ctime for job in jobs.values())
    for index, start in enumerate(starts[2:]):
        assert start >= ends[index], 'a third job started while two were still running'

