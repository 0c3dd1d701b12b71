"""Status memory and CPU are Kubernetes quantities on the wire and the same numbers once read back."""

from __future__ import annotations

from hypothesis import given, strategies as st

from modelfleet.api import PlanOverhead


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_any_gib_survives_the_wire(value):
    overhead = PlanOverhead(name="x", gi_b=value, in_budget=True)
    wire = overhead.to_wire()
    assert wire["memory"].endswith("Gi")
    assert PlanOverhead.model_validate(wire) == overhead


def test_quantities_read_like_kubernetes():
    assert PlanOverhead(name="x", gi_b=43.5, in_budget=True).to_wire()["memory"] == "43.5Gi"
    assert PlanOverhead.model_validate({"name": "x", "memory": "512Mi", "inBudget": True}).gi_b == 0.5
