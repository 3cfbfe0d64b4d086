# Cutout's commands. `make run` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= u2netp-int8
MODEL_FILE := layers/model/build/models/$(MODEL).onnx
HOST ?= 127.0.0.1
PORT ?= 8000
# Evaluation data: `make eval-data` downloads the public sets into EVAL_DATA; the team's shared
# copy (../shared/eval) is used where it exists and nothing was downloaded.
EVAL_DATA ?= build/eval
EVAL_DIR ?= $(if $(wildcard $(EVAL_DATA)/*/manifest.csv),$(EVAL_DATA),$(if $(wildcard ../shared/eval/*/manifest.csv),../shared/eval,$(EVAL_DATA)))
DATASET ?= $(EVAL_DIR)/grabcut
PYTEST_ARGS ?=

.PHONY: install model run test fuzz check eval eval-data bench bench-jobs clean layers sam-cli checkov \
	lint-deploy openapi swagger-ui scale docs docs-serve
# The default model is the INT8 u2netp; the fp32 file it is built from stays selectable
# (CUTOUT_MODEL=u2netp) and is tested too.
FP32_FILE := layers/model/build/models/u2netp.onnx
INT8_FILE := layers/model/build/models/u2netp-int8.onnx
# The `quality` tier's model (README: Quality tiers), quantised from u2net the same way.
QUALITY_FILE := layers/model/build/models/u2net-int8.onnx
install: $(STAMP) node_modules/.bin/dynalite $(MODEL_FILE) $(FP32_FILE) $(INT8_FILE) $(QUALITY_FILE)

$(STAMP): requirements-dev.txt requirements-nodeps.txt layers/deps/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

node_modules/.bin/dynalite: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

model: $(MODEL_FILE)
# Any registry model, built by the model layer's Makefile; a *-int8 one is quantised from
# the verified fp32 file with the dev venv's onnxruntime.
layers/model/build/models/%.onnx: layers/model/fetch_model.py layers/cutout/python/cutout/engine/models.json | $(STAMP)
	$(MAKE) -C layers/model MODEL=$* PYTHON=$(PYTHON) QUANT_PYTHON=$(abspath $(BIN)/python)
$(INT8_FILE) $(QUALITY_FILE): layers/model/build/models/%-int8.onnx: layers/model/build/models/%.onnx \
		layers/model/%-int8.ranges.json layers/model/quantize.py | $(STAMP)
	$(MAKE) -C layers/model MODEL=$*-int8 PYTHON=$(PYTHON) QUANT_PYTHON=$(abspath $(BIN)/python)

run: install
	@echo "Cutout: open http://$(HOST):$(PORT)/ in a browser once the server says it is running (Ctrl+C stops it)."
	CUTOUT_ALLOW_ANONYMOUS=$${CUTOUT_ALLOW_ANONYMOUS:-1} CUTOUT_ANONYMOUS_PLAN=$${CUTOUT_ANONYMOUS_PLAN:-unlimited} HOST=$(HOST) PORT=$(PORT) $(BIN)/cutout serve

# The suite runs on every CPU (pytest-xdist, one worker per CPU: PYTEST_WORKERS=0 for one
# process) and names its 30 slowest tests at the end.
PYTEST_WORKERS ?= auto
test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=30 $(PYTEST_ARGS)

# The no-5xx property suite (tests/web/test_fuzz_no_5xx.py) with many random requests per
# route; `make test` runs the same tests with a few dozen each.
FUZZ_EXAMPLES ?= 2000
fuzz: install
	CUTOUT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -m fuzz -p no:logging $(PYTEST_ARGS)

# Static checks: mypy --strict on the whole package (pyproject.toml [tool.mypy]).
check: install
	$(BIN)/mypy layers/cutout/python/cutout

# The OpenAPI spec the app serves at /openapi.json, written to the committed file a
# marketplace listing is built from (tests/web/test_openapi.py checks the two agree).
OPENAPI_FILE ?= docs/openapi.json
openapi: install
	$(BIN)/cutout openapi $(OPENAPI_FILE)

# Swagger UI for /docs, served from the package (no CDN): the npm package's bundle, CSS,
# favicon and licence, committed under cutout/web/static/swagger-ui/. Re-run to update.
SWAGGER_UI_VERSION ?= 5.35.0
SWAGGER_UI_DIR := layers/cutout/python/cutout/web/static/swagger-ui
swagger-ui:
	rm -rf build/swagger-ui && mkdir -p build/swagger-ui $(SWAGGER_UI_DIR)
	cd build/swagger-ui && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) && tar xzf swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz
	cp build/swagger-ui/package/swagger-ui.css build/swagger-ui/package/favicon-32x32.png \
		build/swagger-ui/package/LICENSE build/swagger-ui/package/NOTICE \
		build/swagger-ui/package/swagger-ui-bundle.js.LICENSE.txt $(SWAGGER_UI_DIR)/
	sed '/^\/\/# sourceMappingURL=/d' build/swagger-ui/package/swagger-ui-bundle.js > $(SWAGGER_UI_DIR)/swagger-ui-bundle.js
	sed -i '/sourceMappingURL=/d' $(SWAGGER_UI_DIR)/swagger-ui.css
	echo "swagger-ui-dist $(SWAGGER_UI_VERSION) (npm), Apache-2.0: see LICENSE and NOTICE" > $(SWAGGER_UI_DIR)/VERSION

eval: eval-data-present install
	CUTOUT_MODEL=$(MODEL) $(BIN)/cutout eval $(DATASET) $(EVAL_ARGS)

# Checked before anything is installed: without data, say what to run instead.
.PHONY: eval-data-present bench-data-present
eval-data-present:
	@test -f $(DATASET)/manifest.csv || { echo "make: no evaluation set at $(DATASET) (no manifest.csv). Run \`make eval-data\` to download the public sets into $(EVAL_DATA), or pass DATASET=<folder> holding manifest.csv, images/ and masks/ (docs/quality.md)." >&2; exit 2; }
bench-data-present:
	@ls $(EVAL_DIR)/*/manifest.csv >/dev/null 2>&1 || { echo "make: no evaluation sets under $(EVAL_DIR). Run \`make eval-data\` to download the public sets into $(EVAL_DATA), or pass EVAL_DIR=<folder> whose subfolders hold manifest.csv, images/ and masks/ (docs/quality.md)." >&2; exit 2; }

# The public evaluation sets the quality figures are measured on (docs/quality.md), downloaded
# from their pinned sources, each file checked against its SHA-256 in eval/datasets.json, and
# laid out as `make eval` reads them. EVAL_SOURCE replaces the download host (a mirror, or a
# local copy served over HTTP).
EVAL_SOURCE ?=
eval-data: | $(STAMP)
	$(BIN)/python eval/fetch.py --out $(EVAL_DATA) $(if $(EVAL_SOURCE),--source $(EVAL_SOURCE))

# The documentation site (mkdocs.yml): built offline into build/site with --strict, so a broken
# link or anchor fails; docs-serve rebuilds it on every change.
DOCS_PORT ?= 8001
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

# Speed, memory, cold start and cost against rembg (docs/benchmarks.md); rembg and
# matplotlib live in bench/.venv, never in the test environment. BENCH_ARGS=--quick
# for a short run.
BENCH_VENV := bench/.venv
BENCH_ARGS ?=
$(BENCH_VENV)/.installed: bench/requirements.txt layers/deps/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements.txt
	$(BENCH_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

bench: bench-data-present install $(BENCH_VENV)/.installed layers/model/build/models/u2netp.onnx
	$(BENCH_VENV)/bin/python -m bench.run --photos $(EVAL_DIR) $(BENCH_ARGS)

# The scale-and-cost tables (docs/scale-and-cost.md) from the last `make bench` results.
scale: install
	$(BIN)/python -m bench.scale --write docs/scale-and-cost.md

# Asynchronous jobs against synchronous requests, and jobs/s with the local pool (bench/jobs.py).
bench-jobs: bench-data-present install
	$(BIN)/python -m bench.jobs --photos $(EVAL_DIR)

# The three Lambda layers, built by the same Makefile targets `sam build` runs, but for
# this machine's Python version and CPU, into $(LAYERS_DIR)/{cutout,deps,model}; the
# layer import test (tests/functions/test_lambda_layers.py) loads the handler from them.
LAYERS_DIR ?= build/layers
LOCAL_PYTHON_VERSION = $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
layers: | $(STAMP)
	$(MAKE) -C layers/cutout build-CutoutLayer ARTIFACTS_DIR=$(abspath $(LAYERS_DIR))/cutout \
		PYTHON=$(abspath $(BIN)/python) PYTHON_VERSION=$(LOCAL_PYTHON_VERSION)
	$(MAKE) -C layers/deps build-DepsLayer ARTIFACTS_DIR=$(abspath $(LAYERS_DIR))/deps \
		PYTHON=$(abspath $(BIN)/python) PYTHON_VERSION=$(LOCAL_PYTHON_VERSION) \
		ARCH=$$(uname -m | sed 's/aarch64/arm64/')
	$(MAKE) -C layers/model build-ModelLayer ARTIFACTS_DIR=$(abspath $(LAYERS_DIR))/model \
		MODEL=$(MODEL) QUALITY_MODEL=$(QUALITY_MODEL) PYTHON=$(PYTHON) QUANT_PYTHON=$(abspath $(BIN)/python)
	du -sh $(LAYERS_DIR)/*

# AWS SAM CLI in its own virtualenv (its pins clash with the dev tools'): `sam validate
# --lint`, `sam build`, `sam deploy` as $(SAM).
SAM_CLI_VERSION ?= 1.170.0
SAM_VENV := build/tools/sam
SAM := $(SAM_VENV)/bin/sam
sam-cli: $(SAM)
$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)

# checkov (the template's security scan) in a venv of its own as well: its pins clash with
# the dev tools' and SAM CLI's.
CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV := build/tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
checkov: $(CHECKOV)
$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

# The template's three offline checks (docs/deploy.md): cfn-lint, `sam validate --lint`, and
# checkov, which must report 0 failed checks; every skip carries its reason in template.yaml.
# --skip-download: no Prisma Cloud look-ups (offline, and nothing of ours leaves the machine).
lint-deploy: install $(SAM) $(CHECKOV)
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM) validate --lint
	$(CHECKOV) --file template.yaml --framework cloudformation --skip-download --compact --quiet

clean:
	rm -rf $(VENV) node_modules .cutout .pytest_cache
	$(MAKE) -C layers/model clean
