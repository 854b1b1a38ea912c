"""The benchmark harness: run order, pairing, intervals and verdicts (no database, no peers)."""

from __future__ import annotations

from bench.harness import round_order, scaling_groups
from bench.report import BackendReport
from bench.scenarios import ALL_IDS, MEMORY, STARTUP, expand
from bench.startup import verdict
from bench.stats import median_interval


def test_scaling_scenarios_share_rounds_with_their_yardstick() -> None:
    """S1x10 runs in the rounds of S1, S2x10 in those of S2, S7 in those of S7s (yardstick
    first), so that a scaling ratio compares runs made at the same moments."""
    timed = [sid for sid in expand("") if sid not in (MEMORY, STARTUP)]
    groups = scaling_groups(timed)
    assert groups[:7] == [
        ["S1", "S1x10"],
        ["S2", "S2x10"],
        ["S3"],
        ["S4"],
        ["S5"],
        ["S6"],
        ["S7s", "S7", "S7j"],
    ]
    assert ["S5ps", "S5p"] in groups
    assert sorted(sid for group in groups for sid in group) == sorted(timed)
    assert MEMORY in ALL_IDS and STARTUP in ALL_IDS
    assert "S7s" in expand("S7j")


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


def _result(
    impl: str, times: dict[str, list[float]], rounds: dict[str, list[int]] | None = None
) -> dict[str, object]:
    scenarios: dict[str, dict[str, object]] = {sid: {"times": ts} for sid, ts in times.items()}
    for sid, numbers in (rounds or {}).items():
        scenarios[sid]["rounds"] = numbers
    return {"impl": impl, "status": "ok", "backend_label": "sqlite", "scenarios": scenarios}


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
    ratio = report.to_floor("S3", "ormcli")
    assert ratio is not None and ratio.median == 1.5
    scaling = report.scaling("S2x10", "ormcli")
    assert scaling is not None and scaling.median == 10.0  # 60/6, 66/6, 54/6 -> median 10
    # Only rounds both sides ran are compared.
    assert report.to_floor("S2", "ormcli").values == [6 / 5] * 3  # type: ignore[union-attr]


def test_extra_rounds_are_paired_by_their_round_number() -> None:
    """Rounds added for an undecided verdict run only some implementations: a ratio pairs the
    runs by round number, not by position."""
    report = BackendReport(
        "sqlite",
        "sqlite",
        [
            _result("raw-many", {"S2": [5, 5, 5, 10]}, {"S2": [1, 2, 3, 7]}),
            _result("ormcli", {"S2": [6, 6, 6, 9, 12]}, {"S2": [1, 2, 3, 4, 7]}),
        ],
    )
    assert report.to_floor("S2", "ormcli").values == [1.2, 1.2, 1.2, 1.2]  # type: ignore[union-attr]


def test_the_interval_of_a_median_needs_six_samples() -> None:
    """The sign-test interval: [min, max] with 6 samples, the 2nd and 9th of 10, none below 6."""
    assert median_interval([1, 2, 3, 4, 5]) is None
    assert median_interval([6, 1, 5, 2, 4, 3]) == (1, 6)
    assert median_interval(list(range(10, 0, -1))) == (2, 9)


def _verdict_of(ormcli: list[float], floor: list[float]) -> str:
    report = BackendReport(
        "sqlite", "sqlite", [_result("raw-many", {"S4": floor}), _result("ormcli", {"S4": ormcli})]
    )
    return report.verdict("S4").state


def test_a_verdict_is_pass_or_fail_only_when_the_interval_is_clear_of_the_target() -> None:
    """S4 on SQLite: at most 1.3x the floor (issue 18). Ratios 1.05-1.25 pass, 1.35-2 fail, a
    spread across 1.3 (or fewer than six rounds) is within noise."""
    floor = [10.0] * 6
    assert _verdict_of([10.5, 11, 12, 12.5, 11.5, 11], floor) == "pass"
    assert _verdict_of([14, 15, 20, 13.5, 16, 17], floor) == "fail"
    assert _verdict_of([11, 15, 12, 14, 12.5, 14.5], floor) == "noise"
    assert _verdict_of([10.5, 11, 11.5], floor[:3]) == "noise"


def test_the_rounds_added_for_an_undecided_verdict_are_of_the_implementations_deciding_it() -> None:
    report = BackendReport(
        "sqlite",
        "sqlite",
        [
            _result("raw-many", {"S4": [10.0] * 6}),
            _result("ormcli", {"S4": [11, 15, 12, 14, 12.5, 14.5]}),
            _result("sqlalchemy", {"S4": [100.0] * 6}),
        ],
    )
    assert report.undecided(["S4"]) == {"raw-many", "ormcli"}


def test_start_up_verdicts_follow_the_interval_of_the_median() -> None:
    fast = {
        "command": "ormcli --help",
        "times": [0.10, 0.11, 0.12, 0.10, 0.13, 0.11],
        "target": 0.15,
    }
    slow = {**fast, "times": [0.20, 0.21, 0.19, 0.18, 0.25, 0.22]}
    mixed = {**fast, "times": [0.10, 0.20, 0.14, 0.16, 0.13, 0.17]}
    assert [verdict(r)[0] for r in (fast, slow, mixed)] == ["pass", "fail", "noise"]
