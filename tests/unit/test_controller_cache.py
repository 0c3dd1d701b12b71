"""The watch-fed cache: newest object wins, the label index follows stores and deletes (pure, threads aside)."""

from __future__ import annotations

from modelfleet.controller.cache import ClusterCache

LABEL = "modelfleet.io/llmdeployment"


def pod(name: str, rv: str, owner: str | None = "chat", namespace: str = "llm") -> dict:
    labels = {LABEL: owner} if owner else {}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv,
                                        "labels": labels}}


def test_an_older_event_does_not_replace_the_operators_own_write():
    cache = ClusterCache(LABEL)
    cache.store(pod("a", "20"))
    cache.store(pod("a", "19"))
    assert cache.get("Pod", "llm", "a")["metadata"]["resourceVersion"] == "20"
    cache.store(pod("a", "21"))
    assert cache.get("Pod", "llm", "a")["metadata"]["resourceVersion"] == "21"


def test_a_stale_delete_does_not_forget_an_object_created_again():
    cache = ClusterCache(LABEL)
    cache.store(pod("a", "30"))
    cache.forget(pod("a", "12"))
    assert cache.get("Pod", "llm", "a") is not None
    cache.forget(pod("a", "31"))
    assert cache.get("Pod", "llm", "a") is None


def test_the_label_index_follows_relabels_and_deletes():
    cache = ClusterCache(LABEL)
    cache.store(pod("b", "1"))
    cache.store(pod("a", "2"))
    cache.store(pod("c", "3", namespace="other"))
    assert [p["metadata"]["name"] for p in cache.labelled("Pod", "llm", "chat")] == ["a", "b"]
    cache.store(pod("b", "4", owner="code"))
    assert [p["metadata"]["name"] for p in cache.labelled("Pod", "llm", "chat")] == ["a"]
    assert [p["metadata"]["name"] for p in cache.labelled("Pod", "llm", "code")] == ["b"]
    cache.forget(pod("a", "5"))
    assert cache.labelled("Pod", "llm", "chat") == []


def test_the_version_of_a_kind_moves_with_its_objects_only():
    cache = ClusterCache(LABEL)
    before = cache.version("Node")
    cache.store(pod("a", "1"))
    assert cache.version("Node") == before
    cache.store({"kind": "Node", "metadata": {"name": "n1", "resourceVersion": "2"}})
    assert cache.version("Node") == before + 1
    assert cache.keys("Node") == [("", "n1")]


def test_the_echo_of_the_operators_own_write_is_not_news_and_managed_fields_are_not_kept():
    cache = ClusterCache(LABEL)
    written = pod("a", "40")
    written["metadata"]["managedFields"] = [{"manager": "modelfleet"}]
    assert cache.store(written) is True
    assert cache.store(pod("a", "40")) is False  # the watch's echo: queues nothing
    assert cache.store(pod("a", "41")) is True
    assert "managedFields" not in cache.get("Pod", "llm", "a")["metadata"]


def test_pods_are_kept_slim_and_children_keep_only_other_managers_entries():
    cache = ClusterCache(LABEL, managed_fields_of=frozenset({"Deployment"}), own_manager="modelfleet")
    big = pod("a", "1")
    big["spec"] = {"containers": [{"name": "engine", "image": "x" * 1000}]}
    big["status"] = {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}],
                     "containerStatuses": [{"name": "engine", "image": "x" * 1000, "imageID": "sha256:...",
                                            "state": {"running": {"startedAt": "2026-12-05T20:00:00Z"}}}]}
    cache.store(big)
    kept = cache.get("Pod", "llm", "a")
    assert "spec" not in kept and set(kept["status"]) == {"podIP", "conditions", "containerStatuses"}
    # each container's name and state only: what times its cold start
    assert kept["status"]["containerStatuses"] == [{"name": "engine",
                                                    "state": {"running": {"startedAt": "2026-12-05T20:00:00Z"}}}]
    child = {"kind": "Deployment", "metadata": {"name": "d", "namespace": "llm", "resourceVersion": "2",
                                                "managedFields": [{"manager": "modelfleet"},
                                                                  {"manager": "kubectl-patch"},
                                                                  {"manager": "kcm", "subresource": "status"}]}}
    cache.store(child)
    assert cache.get("Deployment", "llm", "d")["metadata"]["managedFields"] == [{"manager": "kubectl-patch"}]
