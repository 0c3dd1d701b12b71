"""Status memory and CPU are Kubernetes quantities on the wire and the same numbers once read back;
the sizes users write are read as the Kubernetes client reads them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, strategies as st
from kubernetes.utils.quantity import parse_quantity as kubernetes_parse_quantity

from modelfleet.api import PlanOverhead
from modelfleet.api.quantity import is_quantity, parse_quantity
from modelfleet.api.spec import QUANTITY_PATTERN


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_any_gib_survives_the_wire(value):
    overhead = PlanOverhead(name="x", gi_b=value, in_budget=True)
    wire = overhead.to_wire()
    assert wire["memory"].endswith("Gi")
    assert PlanOverhead.model_validate(wire) == overhead


def test_quantities_read_like_kubernetes():
    assert PlanOverhead(name="x", gi_b=43.5, in_budget=True).to_wire()["memory"] == "43.5Gi"
    assert PlanOverhead.model_validate({"name": "x", "memory": "512Mi", "inBudget": True}).gi_b == 0.5


quantities = st.from_regex(QUANTITY_PATTERN, fullmatch=True).filter(lambda q: "\n" not in q)


def outcome(parse, text):
    try:
        return parse(text)
    except (ValueError, ArithmeticError):
        # The pattern admits a fractional exponent (".5e.5") and exponents no Decimal holds (1E1000000).
        return "refused"


@given(quantities)
def test_it_reads_every_quantity_as_the_kubernetes_client_does(text):
    assert outcome(parse_quantity, text) == outcome(kubernetes_parse_quantity, text)


@pytest.mark.parametrize("text", ["lots", "1 Gi", "Gi", "1GB", "", "1E1000000Ei"])
def test_what_is_not_a_quantity_is_said(text):
    assert not is_quantity(text)
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)


def test_the_pattern_and_the_parser_agree_on_what_a_quantity_is():
    for text in ("200Gi", "1.5T", "0", "-5Gi", "1e3", ".5", "100m"):
        assert re.fullmatch(QUANTITY_PATTERN, text) and is_quantity(text), text
