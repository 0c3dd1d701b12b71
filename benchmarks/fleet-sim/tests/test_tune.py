"""run.tune, the protocol's tuning of the peer: the cheapest target whose waits are within the slack of ours,
on the tuning seeds, over both window grids; means measured before (``known``) are not run again."""
from __future__ import annotations

import json

import run


class FakeRunner:
    """Rows from formulas: GPU-hours fall and waits rise with the peer's target (the short window costs more at
    the same target); ours waits 10 s at p95 and 20 s at p99."""

    def __init__(self) -> None:
        self.ran: list[tuple] = []

    def run(self, spec: tuple, trace: str, seed: int, cold_start: float, routing: str) -> dict:
        self.ran.append(spec)
        if spec[0] != "keda":
            return {"gpu_hours": 50.0, "p95": 10.0, "p99": 20.0}
        target, window = spec[1], spec[2]
        return {"gpu_hours": 200.0 - target + (0 if window == 300.0 else 5), "p95": target / 3, "p99": target / 1.5}


def test_the_cheapest_target_within_the_slack_is_chosen_and_known_means_are_not_run_again():
    runner = FakeRunner()
    tuning = run.tune(runner, "bursty", 180.0, "service")
    # p95 <= 10.5 and p99 <= 21: target 30 on the 300 s grid (p99 20.0; 32 gives 21.33), 30 on the long one.
    assert tuning["reaches"] and tuning["peer"] == ("keda", 30.0, 300.0)
    assert tuning["ours_p99"] == 20.0
    known = {(t["spec"], "bursty", 180.0, "service"): t for t in tuning["tried"]}
    again = FakeRunner()
    retuned = run.tune(again, "bursty", 180.0, "service", ours_spec=("ours-variant",), known=known)
    assert retuned["peer"] == tuning["peer"]
    assert all(spec[0] != "keda" for spec in again.ran)  # only ours ran


def test_a_peer_that_never_waits_as_little_as_ours_gets_its_lowest_p99():
    class Slow(FakeRunner):
        def run(self, spec, *rest):
            row = super().run(spec, *rest)
            return row if spec[0] != "keda" else {**row, "p99": 100.0 + spec[1]}
    tuning = run.tune(Slow(), "step", 60.0, "service")
    assert not tuning["reaches"] and tuning["peer"][1] == min(run.PEER_TARGETS)


def test_the_committed_tuning_means_cover_every_peer_the_committed_run_chose():
    """explore_scale_down.py and reactive_bound.py tune against these means instead of running them again."""
    committed = json.loads((run.HERE / "results.json").read_text())
    known = run.committed_tuning(run.HERE / "results.json")
    for s in committed["scored"]:
        means = known[(tuple(s["peer"]), s["trace"], s["cold_start"], s["routing"])]
        assert means["gpu_hours"] > 0 and means["feasible"] == s["reaches"]
