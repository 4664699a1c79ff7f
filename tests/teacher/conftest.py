"""Fixtures of the teacher-labelling tests: the real ``mlipgen-teacher-label`` code on the test localhost."""

from __future__ import annotations

import pytest

from tests.silicon import ONE_THREAD, venv_tool

#: The Stillinger-Weber silicon teacher (PRB 31, 5262) shipped with the package.
SW_TEACHER = {'calculator': 'aiida_mlipgen.science.teacher:stillinger_weber_silicon', 'parameters': {}}


@pytest.fixture
def teacher_code(aiida_code_installed):
    """``mlipgen-teacher-label`` as an AiiDA code."""
    return aiida_code_installed(
        label='mlipgen-teacher-label',
        default_calc_job_plugin='mlipgen.teacher_label',
        filepath_executable=venv_tool('mlipgen-teacher-label'),
        prepend_text=ONE_THREAD,
    )
