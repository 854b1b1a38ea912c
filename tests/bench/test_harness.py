"""The benchmark harness's run order (no database, no peers needed)."""

from __future__ import annotations

from bench.harness import round_order, scaling_groups
from bench.report import BackendReport
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


def test_a_round_runs_the_floor_and_ormcli_together_then_the_peers() -> None:
    """Raw variants and ormcli first (each scenario of the group in turn), then the peers; each
    part starts one place further on in the next round."""
    live = ["raw-many", "raw-batch", "ormcli", "sqlalchemy", "peewee"]
    assert round_order(live, ["S1", "S1x10"], 1) == [
        ("S1", "raw-batch"),
        ("S1", "ormcli"),
        ("S1", "raw-many"),
        ("S1x10", "raw-batch"),
        ("S1x10", "ormcli"),
        ("S1x10", "raw-many"),
        ("S1", "peewee"),
        ("S1", "sqlalchemy"),
        ("S1x10", "peewee"),
        ("S1x10", "sqlalchemy"),
    ]
    assert round_order(["ormcli"], ["S3"], 4) == [("S3", "ormcli")]


def _result(impl: str, times: dict[str, list[float]]) -> dict[str, object]:
    return {
        "impl": impl,
        "status": "ok",
        "backend_label": "sqlite",
        "scenarios": {sid: {"times": ts} for sid, ts in times.items()},
    }


def test_ratios_are_paired_by_round() -> None:
    """× floor is the median of per-round ratios, not the ratio of medians: a slow round that
    slowed the floor and ormcli alike cancels out."""
    report = BackendReport(
        "sqlite",
        "sqlite",
        [
            _result("raw-many", {"S3": [10, 10, 20, 20, 20], "S2": [5, 5, 5, 5, 5]}),
            _result("raw-batch", {"S3": [30, 30, 30, 30, 30]}),
            _result("ormcli", {"S3": [15, 15, 30, 30, 15], "S2": [6, 6, 6], "S2x10": [60, 66, 54]}),
        ],
    )
    assert report.floor_impl("S3") == "raw-many"
    # Per round 1.5, 1.5, 1.5, 1.5, 0.75: the median is 1.5 (medians alone: 15 / 20 = 0.75).
    assert report.to_floor("S3", "ormcli") == 1.5
    assert report.scaling("S2x10", "ormcli") == 10.0  # 60/6, 66/6, 54/6 -> median 10
    # Rounds missing on one side: back to the ratio of medians.
    assert report.to_floor("S2", "ormcli") == 6 / 5
