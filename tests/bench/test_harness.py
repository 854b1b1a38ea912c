"""The benchmark harness's run order (no database, no peers needed)."""

from __future__ import annotations

from bench.harness import scaling_groups
from bench.scenarios import ALL_IDS, MEMORY, expand


def test_scaling_scenarios_share_rounds_with_their_yardstick() -> None:
    """S1x10 runs in the rounds of S1, S2x10 in those of S2, S7 in those of S7s (yardstick
    first), so that a scaling ratio compares runs made at the same moments."""
    timed = [sid for sid in expand("") if sid != MEMORY]
    groups = scaling_groups(timed)
    assert groups == [
        ["S1", "S1x10"],
        ["S2", "S2x10"],
        ["S3"],
        ["S4"],
        ["S5"],
        ["S6"],
        ["S7s", "S7"],
    ]
    assert sorted(sid for group in groups for sid in group) == sorted(timed)
    assert MEMORY in ALL_IDS


def test_a_scaling_scenario_alone_runs_alone() -> None:
    """Without its yardstick selected, a scaling scenario is a group of its own."""
    assert scaling_groups(["S1x10"]) == [["S1x10"]]
    assert scaling_groups(["S2", "S1x10", "S1"]) == [["S2"], ["S1", "S1x10"]]
