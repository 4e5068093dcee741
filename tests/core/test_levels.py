"""Level curves: MEE6's figures, and level <-> XP agreeing exactly at every boundary."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.economy.levels import MAX_INT64, Mee6Curve, PowerCurve, make_curve, progress

MEE6 = Mee6Curve()


def test_mee6_curve_matches_mee6_published_totals() -> None:
    assert MEE6.xp_for_level(1) == 100
    assert MEE6.xp_for_level(2) == 255
    assert MEE6.xp_for_level(10) == 4_675
    assert MEE6.xp_for_level(100) == 1_899_250


def test_mee6_step_costs_are_5l2_plus_50l_plus_100() -> None:
    for level in range(0, 300):
        step = MEE6.xp_for_level(level + 1) - MEE6.xp_for_level(level)
        assert step == 5 * level**2 + 50 * level + 100


@settings(max_examples=300, deadline=None)
@given(level=st.integers(min_value=0, max_value=1000))
def test_mee6_inverse_agrees_at_every_boundary(level: int) -> None:
    total = MEE6.xp_for_level(level)
    assert MEE6.level_for_xp(total) == level
    assert MEE6.level_for_xp(MEE6.xp_for_level(level + 1) - 1) == level
    if level:
        assert MEE6.level_for_xp(total - 1) == level - 1


@settings(max_examples=300, deadline=None)
@given(
    level=st.integers(min_value=0, max_value=1000),
    base=st.floats(min_value=0.5, max_value=5_000, allow_nan=False),
    exponent=st.floats(min_value=0.6, max_value=4.0, allow_nan=False),
)
def test_power_inverse_agrees_at_every_boundary(level: int, base: float, exponent: float) -> None:
    curve = PowerCurve(base, exponent)
    total = curve.xp_for_level(level)
    assert curve.level_for_xp(total) == level or (
        # Two levels may share a total when the curve is flatter than 1 XP per level.
        curve.xp_for_level(curve.level_for_xp(total)) == total
    )
    if level and curve.xp_for_level(level - 1) < total:
        assert curve.level_for_xp(total - 1) == level - 1


@settings(max_examples=200, deadline=None)
@given(xp=st.integers(min_value=0, max_value=MAX_INT64))
def test_level_for_any_int64_xp_sits_between_its_boundaries(xp: int) -> None:
    for curve in (MEE6, PowerCurve(100, 2), PowerCurve(37.5, 2.5)):
        level = curve.level_for_xp(xp)
        assert curve.xp_for_level(level) <= xp < curve.xp_for_level(level + 1)


def test_power_curve_with_integer_exponent_is_exact() -> None:
    curve = PowerCurve(100, 2)
    assert [curve.xp_for_level(n) for n in range(5)] == [0, 100, 400, 900, 1600]
    assert curve.level_for_xp(899) == 2
    assert curve.level_for_xp(900) == 3


def test_progress_reports_xp_into_level_and_to_next() -> None:
    p = progress(MEE6, 150)
    assert (p.level, p.xp_into_level, p.xp_for_next, p.xp_to_next) == (1, 50, 155, 105)
    assert progress(MEE6, 0).level == 0


def test_negative_xp_is_level_zero_and_bad_inputs_are_refused() -> None:
    assert MEE6.level_for_xp(-5) == 0
    with pytest.raises(TypeError):
        MEE6.level_for_xp(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MEE6.xp_for_level(-1)
    with pytest.raises(ValueError):
        make_curve("linear")
