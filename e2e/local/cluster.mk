# Local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok fake GPU nodes) on 127.0.0.1. Include from the
# top-level Makefile:  include e2e/local/cluster.mk
# Binaries and state live outside the repo, under $(MODELFLEET_CACHE).

MODELFLEET_CACHE ?= $(HOME)/.cache/modelfleet
export MODELFLEET_CACHE
LOCAL_CLUSTER_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
# Any Python with PyYAML (the test venv's, or Debian's python3-yaml).
LOCAL_CLUSTER_PYTHON ?= python3
LOCAL_CLUSTER := PYTHONPATH=$(LOCAL_CLUSTER_DIR) $(LOCAL_CLUSTER_PYTHON) -m localcluster
LOCAL_KUBECONFIG := $(MODELFLEET_CACHE)/local-cluster/kubeconfig

.PHONY: cluster-binaries cluster-up cluster-down cluster-status images

cluster-binaries: ## install the real node's Debian packages; build (first time, slow) or reuse the binaries
	bash $(LOCAL_CLUSTER_DIR)/install-packages.sh
	bash $(LOCAL_CLUSTER_DIR)/build.sh

images: cluster-binaries ## build the real node's images (bases, pause, runtime, operator, vLLM CPU engine); cached
	$(LOCAL_CLUSTER) images

cluster-up: cluster-binaries ## start the local control plane (idempotent) and wait until usable
	$(LOCAL_CLUSTER) up
	@echo "kubeconfig: export KUBECONFIG=$(LOCAL_KUBECONFIG)   (context modelfleet-local)"

cluster-down: ## stop it and drop its etcd data (certs and logs stay)
	$(LOCAL_CLUSTER) down

cluster-status: ## components, listeners, health and nodes
	$(LOCAL_CLUSTER) status
