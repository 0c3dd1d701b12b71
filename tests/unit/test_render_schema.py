"""Every rendered object is one the API server of the pinned Kubernetes version accepts.

From every example (with its hand-built plan) and from any valid spec
hypothesis can build: the OpenAPI schema of Kubernetes 1.34 in strict mode
(native sidecars included), plus the semantic rules the schema cannot say.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from modelfleet.api import OperatorSettings
from modelfleet.render import UnsupportedSpec, child_refs, ref_of, render_all, unsupported
from support.render_cases import EXAMPLES, assert_acceptable, example, example_plan, llmdeployments, plans_for

OPERATOR_SETTINGS = OperatorSettings()


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_object_of_every_example_is_valid(name):
    objects = render_all(example(name), example_plan(name), OPERATOR_SETTINGS)
    assert objects
    for obj in objects:
        assert_acceptable(obj)


@st.composite
def resources_and_plans(draw):
    resource = draw(llmdeployments())
    return resource, draw(plans_for(resource))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resources_and_plans(), st.one_of(st.none(), st.integers(0, 1000)))
def test_every_object_of_any_valid_spec_is_valid(resource_and_plan, replicas):
    resource, plan = resource_and_plan
    if unsupported(resource.spec, plan, OPERATOR_SETTINGS):
        with pytest.raises(UnsupportedSpec):
            render_all(resource, plan, OPERATOR_SETTINGS, replicas)
        return
    objects = render_all(resource, plan, OPERATOR_SETTINGS, replicas)
    for obj in objects:
        assert_acceptable(obj)
        assert obj["metadata"]["namespace"] == resource.metadata["namespace"]
    refs = [ref_of(obj) for obj in objects]
    assert len(set(refs)) == len(refs)
    assert set(refs) <= set(child_refs(resource.metadata["name"]))
