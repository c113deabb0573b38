# The project's vocabulary. Every target says what it does and is safe to re-run.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PROFILE ?= values/cpu-tiny.yaml
KUBE_VERSION ?= 1.35.0
LLMSTACK := .venv/bin/llmstack

.PHONY: generate dashboards help setup test lint render check validate demo demo-stop package cluster-tools images crds lock clean bench-gateway bench-serving

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## install the pinned toolchain into .venv/ and .tools/ (helm v4, checkov, vLLM+Ray venv, redis-server)
	@bash scripts/setup.sh

test: setup ## run every test tier (lint, unit, chart, serving, gateway, observability, demo, cluster, node), timed per tier
	@bash scripts/run-tests.sh

lint: setup ## ruff on the Python code, helm lint --strict on both charts
	.venv/bin/ruff check src tests scripts images
	.tools/bin/helm lint --strict charts/llm-stack -f $(PROFILE)
	.tools/bin/helm lint --strict charts/llm-gateway

render: setup ## render PROFILE (default values/cpu-tiny.yaml) for KUBE_VERSION to stdout
	@$(LLMSTACK) render -f $(PROFILE) --kube-version $(KUBE_VERSION)

check: setup ## render PROFILE and validate it against the Kubernetes, KubeRay and Ray Serve schemas
	@$(LLMSTACK) check -f $(PROFILE) --kube-version $(KUBE_VERSION)

validate: setup ## check PROFILE's values: schema, the chart's rules, sizing (errors name the key and the fix)
	@$(LLMSTACK) validate -f $(PROFILE) --kube-version $(KUBE_VERSION)

demo: setup ## the main job, locally: Ray Serve + vLLM (CPU) + gateway + Prometheus, a curl to paste, a load test
	@$(LLMSTACK) demo up $(if $(FOREGROUND),--foreground)

demo-stop: ## stop everything `make demo` started
	@$(LLMSTACK) demo down

package: setup ## helm package both charts into dist/ (subchart resolved; push with helm push dist/*.tgz oci://…)
	@bash scripts/package.sh dist

bench-gateway: setup ## gateway cost per request vs direct, a bare proxy, LiteLLM and BASELINE=<git ref>'s gateway
	@test -x .tools/litellm-venv/bin/litellm || { python3 -m venv .tools/litellm-venv && \
	  .tools/litellm-venv/bin/pip install --quiet --no-cache-dir -r requirements/litellm.lock; }
	.venv/bin/python scripts/bench/gateway.py --json-out .tools/bench-gateway.json $(if $(BASELINE),--baseline $(BASELINE))

bench-serving: setup ## direct vLLM vs the Ray Serve app (direct streaming, the default, and the stock path), CPU, tiny and realistic models
	.venv/bin/python scripts/bench/serving.py --json-out .tools/bench-serving.json

generate: setup ## regenerate from their sources: dashboards, values/addons/, the model contract's files (schema, modelDefaults, llm_serving/contract.py), the charts' READMEs
	.venv/bin/python -m llmstack.generate

dashboards: generate ## same as generate (the dashboards are part of it)

cluster-tools: ## build the test cluster's programs: control plane, kubelet, kube-proxy, containerd, CNI, CoreDNS, kwok, KubeRay operator, prometheus-adapter (Go, pinned, cached)
	@bash scripts/build-cluster-tools.sh

images: setup ## build the serving (CPU) and gateway images here: Debian base by mmdebstrap, buildah, offline wheels; one OCI layout in .tools/images/oci (cached)
	@bash scripts/build-images.sh

crds: setup ## the pinned KubeRay CRDs (ray-operator v1.6.1 Go module) into .tools/crds, sha256-verified
	@$(LLMSTACK) crds

lock: ## re-resolve requirements/*.in into the pinned requirements/*.lock files
	@bash scripts/lock.sh

clean: ## remove the project-local toolchain (.venv/, .tools/) and caches
	rm -rf .venv .tools .pytest_cache .ruff_cache
