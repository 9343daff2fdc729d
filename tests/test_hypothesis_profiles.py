"""The Hypothesis profile every run loads: a slow machine cannot fail a correct property."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import DeadlineExceeded, FailedHealthCheck

from tests.conftest import PROFILE_VARIABLE, PROFILES

# What a busy machine looks like to Hypothesis: drawing an example takes 0.5 s (over its
# one-second budget for the first examples) and running one takes 0.3 s (over its 200 ms
# deadline).
SLOW_DRAW = 0.5
SLOW_RUN = 0.3


def slow_property(base: settings, *, draw: float, run: float) -> Callable[[], None]:
    # Only generation: shrinking a deliberately slow property would cost a minute.
    @settings(base, max_examples=4, database=None, phases=[Phase.generate])
    @given(st.integers().map(lambda n: time.sleep(draw) or n))
    def slow(n: int) -> None:
        time.sleep(run)
        assert isinstance(n, int)

    return slow


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_passes_a_correct_property_on_a_slow_machine(profile: str) -> None:
    slow_property(settings.get_profile(profile), draw=SLOW_DRAW, run=SLOW_RUN)()


# The property above only tests the profiles if Hypothesis's own defaults fail it.
def test_hypothesis_defaults_fail_a_slow_draw() -> None:
    with pytest.raises(FailedHealthCheck):
        slow_property(settings.get_profile("default"), draw=SLOW_DRAW, run=0)()


def test_hypothesis_defaults_fail_a_slow_run() -> None:
    with pytest.raises(DeadlineExceeded):
        slow_property(settings.get_profile("default"), draw=0, run=SLOW_RUN)()


def test_the_run_loads_the_profile_it_was_asked_for() -> None:
    wanted = os.environ.get(PROFILE_VARIABLE, "dev")
    assert settings.default == settings.get_profile(wanted)
    assert settings.default.deadline is None
