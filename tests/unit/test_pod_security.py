"""The namespace's Pod Security level and the weights cache mode (controller.decide.pod_security)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_controller_decide import SETTINGS, SPEC, T0, condition, llmd, snapshot

from modelfleet.api import parse_llmdeployment
from modelfleet.controller.decide import decide
from modelfleet.controller.decide.pod_security import REASON, CacheChoice, choose_cache_mode
from modelfleet.controller.decide.reconcile import Problem


def spec_with(cache: dict | None = None) -> dict:
    """The decide tests' spec with ``cache`` (left out when None: the mode unset)."""
    spec = {k: v for k, v in SPEC.items() if k != "cache"}
    return spec if cache is None else {**spec, "cache": cache}


def resource(cache: dict | None = None):
    return parse_llmdeployment(llmd(spec_with(cache)))


@pytest.mark.parametrize("level", [None, "privileged"])
def test_where_hostpath_is_allowed_the_default_stays_node_local(level):
    choice = choose_cache_mode(resource(), "llm", level)
    assert isinstance(choice, CacheChoice)
    assert (choice.chosen.mode, choice.chosen.reason) == ("nodeLocal", "the default")


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_unset_it_becomes_none_where_hostpath_is_forbidden_and_says_why(level):
    choice = choose_cache_mode(resource(), "llm", level)
    assert isinstance(choice, CacheChoice)
    assert choice.resource.spec.cache.mode == "none" and choice.chosen.mode == "none"
    assert f'enforces Pod Security "{level}"' in choice.chosen.reason and "pvc" in choice.chosen.reason


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_node_local_asked_for_is_refused_naming_level_field_and_what_instead(level):
    refusal = choose_cache_mode(resource({"mode": "nodeLocal"}), "llm", level)
    assert isinstance(refusal, Problem) and refusal.reason == REASON
    for words in (f'"{level}"', "spec.cache.mode: nodeLocal", "pvc", "none", "Nothing was created"):
        assert words in refusal.message


def test_other_modes_asked_for_stay_as_asked():
    choice = choose_cache_mode(resource({"mode": "pvc"}), "llm", "restricted")
    assert isinstance(choice, CacheChoice) and choice.chosen.mode == "pvc"


def test_a_refused_mode_creates_nothing_and_says_so_in_degraded():
    intent = decide(replace(snapshot(llmd(spec_with({"mode": "nodeLocal"}))), pod_security="baseline"), SETTINGS, T0)
    assert intent.apply == () and condition(intent, "Degraded") == ("True", REASON)


def test_the_chosen_mode_is_rendered_and_in_status():
    intent = decide(replace(snapshot(llmd(spec_with())), pod_security="restricted"), SETTINGS, T0)
    deployment = next(o for o in intent.apply if o["kind"] == "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert not any("hostPath" in v for v in volumes)
    assert intent.status is not None and intent.status.cache_mode is not None
    assert intent.status.cache_mode.mode == "none"
    assert not any(o["kind"] == "DaemonSet" for o in intent.apply)


def test_restricted_keeps_a_pvc_but_each_pod_compiles_on_its_own_and_no_step_runs_as_root():
    choice = choose_cache_mode(resource({"mode": "pvc", "size": "40Gi"}), "llm", "restricted")
    assert isinstance(choice, CacheChoice)
    assert choice.resource.spec.cache.mode == "pvc" and choice.resource.spec.cache.compile_cache is False
    assert '"restricted"' in choice.chosen.reason and "own scratch" in choice.chosen.reason
    intent = decide(replace(snapshot(llmd(spec_with({"mode": "pvc", "size": "40Gi"}))), pod_security="restricted"),
                    SETTINGS, T0)
    template = next(o for o in intent.apply if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert [c["name"] for c in template["initContainers"]][0] != "cache-permissions"
    assert all(c["securityContext"].get("runAsNonRoot") for c in template["initContainers"] + template["containers"])


def test_mode_none_asked_for_under_restricted_is_said_as_asked():
    choice = choose_cache_mode(resource({"mode": "none", "size": "40Gi"}), "llm", "restricted")
    assert isinstance(choice, CacheChoice) and (choice.chosen.mode, choice.chosen.reason) == ("none", "spec.cache.mode")
