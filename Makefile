# modelfleet: `make demo` shows the main job, `make test` runs every test tier.
# Each target sets itself up (virtualenv, installs) from a fresh clone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every directory with Python in it, for ruff (mypy's scope is in pyproject.toml).
PY_DIRS := operator tests benchmarks e2e scripts charts

.PHONY: demo test unit test-argocd helm lint crds golden venv engine-venv engine-tgi clean bench-sizing bench-gpu-logs bench-fleet bench-fleet-sparse test-fleet-sim bench-fleet-calibrate bench-controlplane bench-warmup bench-coldstart bench-router e2e-kind kind-local-images kind-local-up kind-local-down

# The local control plane (real kube-apiserver, controller-manager, scheduler,
# kwok GPU nodes): cluster-binaries, cluster-up, cluster-down, cluster-status.
include e2e/local/cluster.mk

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --quiet --upgrade pip
	$(BIN)/pip install --disable-pip-version-check --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## The main job, step by step: CRD, validation, sizing plans, rendering (offline); then the local
## control plane, the chart, the examples on kwok GPU pools, and a tiny model answering on the real
## node. Builds or reuses the control plane's binaries, the vLLM CPU virtualenv and the images.
demo: $(STAMP) cluster-binaries engine-venv
	@bash scripts/demo.sh

## Every test tier, lint first: unit (with schema and layers, tests/unit), Argo CD (tests/argocd),
## control plane (tests/integration), engine (tests/engine), real node and e2e (e2e/suite); then, once
## the local cluster's session is over (whatever its outcome; make test fails if either does), the e2e
## suite on kind with the vLLM CPU engine (e2e-kind, images built here). Builds or reuses what the tiers
## need: the control plane's binaries, the vLLM CPU virtualenv, TGI's CPU build and kind's node image
## (all cached outside the repo, so only the first run is slow).
test: $(STAMP) lint cluster-binaries engine-venv engine-tgi kind-local-images
	rc=0; MODELFLEET_ENGINE_PYTHON="$$(bash e2e/engine/venv.sh | tail -n 1)/bin/python" \
	MODELFLEET_TGI_PREFIX="$$(bash e2e/engine/tgi/build.sh | tail -n 1)" $(BIN)/pytest --durations=40 || rc=$$?; \
	$(MAKE) e2e-kind KIND_IMAGES=local || rc=$$((rc ? rc : 1)); exit $$rc

## The unit tier alone (tests/unit; a few minutes). It builds nothing in Go: the chart's tests run
## the pinned helm, which `make helm` builds once.
unit: $(STAMP) helm
	$(BIN)/pytest tests/unit

## The Argo CD tier alone (tests/argocd): the health check's cases on Argo CD's own Lua evaluation,
## a Go build of Argo CD's packages (7 to 17 min the first time, cached under $(MODELFLEET_CACHE)/go).
test-argocd: $(STAMP)
	$(BIN)/pytest tests/argocd

## The pinned helm the chart's tests run (e2e/local/versions.env), built once into $(MODELFLEET_CACHE)/bin.
helm:
	bash e2e/local/build.sh helm

## The virtualenv with a real vLLM (CPU build), ~6 GB, outside the repo.
engine-venv:
	bash e2e/engine/venv.sh

## TGI for the CPU: launcher, v3 router and server virtualenv, built from ../shared/third_party's
## tarball with e2e/engine/tgi/patches (~20 min and ~8 GB the first time), outside the repo.
engine-tgi:
	bash e2e/engine/tgi/build.sh

## Layer contracts (DESIGN.md), ruff on every Python directory, mypy --strict on the operator and on
## e2e/local (pyproject.toml says which files). mypy's cache lives outside the repo, so a fresh checkout
## checks only what changed (it compares each file's hash with the cache's: 30 s cold, 1 s warm).
lint: $(STAMP)
	$(BIN)/lint-imports --config .importlinter
	$(BIN)/ruff check $(PY_DIRS)
	MYPY_CACHE_DIR=$(MODELFLEET_CACHE)/mypy $(BIN)/mypy

## Regenerate crds/ (and the chart's copy) from the pydantic models.
crds: $(STAMP)
	$(BIN)/modelfleet crd > crds/modelfleet.io_llmdeployments.yaml
	cp crds/modelfleet.io_llmdeployments.yaml charts/modelfleet/files/llmdeployments.modelfleet.io.yaml
	$(BIN)/python charts/values_schema.py > charts/modelfleet/values.schema.json

## Rewrite the rendering golden files; review the diff like code.
golden: $(STAMP)
	UPDATE_GOLDEN=1 $(BIN)/pytest tests/unit/test_render_golden.py -q

## Sizing table: the plan's TP vs the memory bound and vs TP = every GPU of the node.
bench-sizing: $(STAMP)
	$(BIN)/python benchmarks/sizing/sizing_table.py > benchmarks/sizing/results.md

## GPU startup logs: vLLM's rules predicted vs what published startups logged (no engine runs).
bench-gpu-logs: $(STAMP)
	$(BIN)/python benchmarks/sizing/gpu_logs_table.py > benchmarks/sizing/gpu-logs.md

FLEET_SIM_VENV := $(MODELFLEET_CACHE)/venv/fleet-sim
## Fleet simulation, the fair protocol of issue 26 (run.py's docstring): modelfleet against KEDA on the
## same signal, the peer tuned per trace on tuning seeds and both scored on fresh seeds, at 180, 60 and 20 s
## cold starts, under Service routing (the verdict) and least-in-flight routing. Writes
## benchmarks/fleet-sim/results.md (the exact command, the date and the verdict per bar), results.json,
## timeline PNGs, and the engine model's calibration table (calibration/calibration.md). One process:
## 31-33 min on 2 busy cores (3 cold starts x 2 routings x 3 traces; tuning seeds 0-2, fresh seeds 10-14).
bench-fleet:
	test -x $(FLEET_SIM_VENV)/bin/python || $(PYTHON) -m venv $(FLEET_SIM_VENV)
	$(FLEET_SIM_VENV)/bin/pip install --disable-pip-version-check --quiet -r benchmarks/fleet-sim/requirements.txt -e .
	cd benchmarks/fleet-sim && $(FLEET_SIM_VENV)/bin/python engine.py --check > calibration/calibration.md
	cd benchmarks/fleet-sim && nice -n 10 $(FLEET_SIM_VENV)/bin/python run.py

## Fleet simulation, the sparse trace (issue 27): a day of 24 models, most idle most of the day, each its own
## fleet behind a router that holds requests at zero; modelfleet with minReplicas 0 (idle 120-1200 s) and 1
## against a KEDA HTTP add-on-like peer tuned on tuning seeds, scored on fresh ones (sparse_run.py's
## docstring). Runs the simulator's tests first. Writes benchmarks/fleet-sim/sparse-results.md and .json
## (one process, ~25 min on 2 busy cores).
bench-fleet-sparse: test-fleet-sim
	cd benchmarks/fleet-sim && nice -n 10 $(FLEET_SIM_VENV)/bin/python sparse_run.py

## The fleet simulator's own tests (benchmarks/fleet-sim/tests: the router's hold, the sparse trace, the peer;
## seconds), in its venv (numpy is not a dependency of the operator).
test-fleet-sim:
	test -x $(FLEET_SIM_VENV)/bin/python || $(PYTHON) -m venv $(FLEET_SIM_VENV)
	$(FLEET_SIM_VENV)/bin/pip install --disable-pip-version-check --quiet -r benchmarks/fleet-sim/requirements.txt -e '.[test]'
	$(FLEET_SIM_VENV)/bin/python -m pytest benchmarks/fleet-sim/tests -q

## Measure the real vLLM CPU server's step times for the engine model (one server, ~5 min).
bench-fleet-calibrate: $(STAMP) engine-venv
	$(BIN)/python benchmarks/fleet-sim/calibrate.py --out benchmarks/fleet-sim/calibration/vllm-cpu-steps.json --repetitions 5

## 200 and 1000 LLMDeployments at once on the local control plane: benchmarks/controlplane/results-*.md
## and .json (~5 and ~10 min), then the time-to-Ready plot (with the fleet-sim venv's matplotlib).
bench-controlplane: $(STAMP) cluster-up
	for n in 200 1000; do PYTHONPATH=e2e/local $(BIN)/python benchmarks/controlplane/run.py --count $$n \
		--out benchmarks/controlplane/results-$$n.md --json benchmarks/controlplane/results-$$n.json || exit 1; done
	test -x $(FLEET_SIM_VENV)/bin/python || $(PYTHON) -m venv $(FLEET_SIM_VENV)
	$(FLEET_SIM_VENV)/bin/pip install --disable-pip-version-check --quiet -r benchmarks/fleet-sim/requirements.txt
	$(FLEET_SIM_VENV)/bin/python benchmarks/controlplane/plot.py

## First-request latency after Ready with and without the warm-up sidecar (benchmarks/warmup/results.md).
bench-warmup: $(STAMP) engine-venv
	$(BIN)/python benchmarks/warmup/bench.py --repetitions 5

## From kubectl apply to the first completion on the real node, by phase, cache cold and warm
## (benchmarks/coldstart/results.md and coldstart.png; ~30 min). Plots with the fleet-sim venv's matplotlib.
bench-coldstart: $(STAMP) cluster-binaries engine-venv
	test -x $(FLEET_SIM_VENV)/bin/python || $(PYTHON) -m venv $(FLEET_SIM_VENV)
	$(FLEET_SIM_VENV)/bin/pip install --disable-pip-version-check --quiet -r benchmarks/fleet-sim/requirements.txt -e '.[test]'
	$(FLEET_SIM_VENV)/bin/python benchmarks/coldstart/run.py --repetitions 2

## The e2e suite on kind (e2e/kind/README.md): KIND_IMAGES=upstream (Docker, kindest/node, the fake engine;
## needs docker, kind, kubectl, helm) where Docker answers, else KIND_IMAGES=local (podman, the node image and
## every image built here, the vLLM CPU engine; installs and builds what it needs, cached).
KIND_IMAGES ?= $(shell docker info >/dev/null 2>&1 && echo upstream || echo local)
e2e-kind: $(STAMP) $(if $(filter local,$(KIND_IMAGES)),kind-local-images engine-venv)
	KIND_IMAGES=$(KIND_IMAGES) bash e2e/kind/run.sh

## A kind cluster on this machine (e2e/kind/local/README.md): rootful podman, a node image assembled
## here from local parts (no image registry is reachable), cached by a hash of its sources.
kind-local-images: cluster-binaries
	bash e2e/kind/local/install-packages.sh
	bash e2e/kind/local/build.sh

## Create it (or find it) and wait until every node is Ready; KUBECONFIG=$(MODELFLEET_CACHE)/kind/kubeconfig.
kind-local-up: kind-local-images
	bash e2e/kind/local/cluster.sh up

## Delete it and put the host back (routes, links, nft and iptables rules, sysctls), comparing with before.
kind-local-down:
	bash e2e/kind/local/cluster.sh down

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

## The router's data path (benchmarks/router/results.md and results.json): a fake SSE engine, then direct,
## nginx (apt-get install nginx-light), Python aiohttp relays, the router and the Go router the choice was
## measured against; 100 and 1,000 streams, 3 rounds. Waits up to 15 min for a 1-minute load under 1.5 first,
## then ~25 min on 2 cores. Go (/usr/local/go/bin) builds the load programs.
bench-router: $(STAMP)
	PATH="$$PATH:/usr/local/go/bin" $(BIN)/python benchmarks/router/bench.py
