# Every target builds or refreshes the virtual environment it needs, from nothing.
# A venv is rebuilt when pyproject.toml (or the lock it installs from) changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARTIFACTS ?= artifacts
TRAIN_ARGS ?=
EXPORT_ARGS ?=

# TensorFlow-free environments for the runtime's tests.
RUNTIME_VENV := .venv-runtime
LEGACY_VENV := .venv-legacy
# One backend each: the `tflite` and `onnx` extras.
TFLITE_VENV := .venv-tflite
ONNX_VENV := .venv-onnx

# The training/export environment, pinned with hashes (make lock refreshes it), and the same
# versions, without hashes, as constraints of the device installs.
LOCK := requirements.lock
DEVICE_CONSTRAINTS := constraints-device.txt
TOOLS_VENV := .venv-tools
KEYS := keys

.PHONY: all lock keys train export test lint test-main test-runtime test-slow test-avx2 test-cluster bench bench-batch evidence default-model clean

all: train export

$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	touch $@

# Re-resolves the extras export, ray, sign and dev into requirements.lock (exact versions, every
# file's sha256) and writes constraints-device.txt from it. Pins already in the lock are kept;
# LOCK_ARGS=--upgrade moves them all to the newest allowed. The project's own line (a path on
# this machine, with no hash) is dropped: the venv installs the project with --no-deps.
$(TOOLS_VENV)/.installed:
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet "pip-tools==7.6.2"
	touch $@

lock: $(TOOLS_VENV)/.installed
	$(TOOLS_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --extra export --extra ray --extra sign \
		--extra dev $(LOCK_ARGS) --output-file $(LOCK) pyproject.toml
	sed -i '/^parity-edge @ /,/^[a-z]/{/^parity-edge @ /d;/^    /d}' $(LOCK)
	{ echo "# The device installs' versions: the pins of $(LOCK) without hashes (make lock)."; \
	  sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' $(LOCK); } > $(DEVICE_CONSTRAINTS)
	@echo "next: make clean test   (every venv again, from the new lock)"

# A key pair to try signing with: keys/private.pem (never commit it) and keys/public.pem.
keys:
	mkdir -p $(KEYS)
	test -f $(KEYS)/private.pem || openssl ecparam -name prime256v1 -genkey -noout -out $(KEYS)/private.pem
	chmod 600 $(KEYS)/private.pem
	openssl ec -in $(KEYS)/private.pem -pubout -out $(KEYS)/public.pem
	@echo "next: make export EXPORT_ARGS=\"--sign-key $(KEYS)/private.pem\""

# The device installs, one per extra, none with TensorFlow: .venv-runtime (numpy 2,
# ai-edge-litert, onnxruntime, and the sign extra that checks a signature), .venv-tflite
# (numpy, LiteRT), .venv-onnx (numpy, onnxruntime); the lock's versions.
DEVICE_EXTRAS_runtime := runtime,sign
.venv-%/.installed: pyproject.toml $(DEVICE_CONSTRAINTS)
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -c $(DEVICE_CONSTRAINTS) ".[$(or $(DEVICE_EXTRAS_$*),$*),dev]"
	touch $@

# The legacy device install: tflite-runtime 2.14 (its last release) needs numpy < 2.
$(LEGACY_VENV)/.installed: pyproject.toml
	test -x $(LEGACY_VENV)/bin/python || $(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LEGACY_VENV)/bin/python -m pip install --quiet "numpy>=1.26,<2" "tflite-runtime==2.14.0" "onnxruntime>=1.17,<1.24" "pytest>=8"
	$(LEGACY_VENV)/bin/python -m pip install --quiet --no-deps .
	touch $@

train: $(VENV)/.installed
	$(PY) -m train --out $(ARTIFACTS) $(TRAIN_ARGS)
	@echo "next: make export   (converts $(ARTIFACTS)/model.keras to TFLite and ONNX)"

export: $(VENV)/.installed
	$(PY) -m export --out $(ARTIFACTS) $(EXPORT_ARGS)
	@echo "next: $(PY) -m runtime.predict examples/bits.txt   (uses $(ARTIFACTS)/; make default-model ships it in the package)"

# Copies the exported artifacts into the package, so `import runtime` works out of the box.
default-model: $(VENV)/.installed
	$(PY) -m export.publish_default $(ARTIFACTS) runtime/model
	@echo "next: make test   (the runtime's tests run on the model now in runtime/model/)"

test: lint test-main test-runtime test-slow test-avx2
	@echo "all tests passed; next: make bench   (speed and memory against TensorFlow)"

# The code's shape: no import circle, no module over the size limit (tests/test_layout.py).
lint: $(VENV)/.installed
	$(PY) -m pytest -q tests/test_layout.py

# test-main runs everything in tests/, the two-node cluster tests (marker ray_cluster,
# two raylets on 127.0.0.2 and 127.0.0.3, about two minutes) among them; test-cluster runs
# only those.
test-main: $(VENV)/.installed
	$(PY) -m pytest

test-cluster: $(VENV)/.installed
	$(PY) -m pytest -m ray_cluster tests/runtime/batch/test_cluster.py

# The runtime's tests again, from an installed (not editable) copy, without TensorFlow.
# The package is reinstalled on every run so the venvs never test a stale copy; the cwd is
# tests/ so `import runtime` finds the installed package, not the source tree.
# (runtime/batch/test_on_ray.py and test_cluster.py need Ray and pyarrow, which these
# environments do not have.)
RUNTIME_TESTS := $(patsubst tests/%,%,$(filter-out %/test_on_ray.py %/test_cluster.py,$(wildcard tests/runtime/test_*.py tests/runtime/*/test_*.py)))

# The one-backend installs run what differs there: auto, verify and the install hint.
ONE_BACKEND_TESTS := runtime/test_one_backend.py

# setuptools builds a wheel from build/lib, where modules since moved or removed would linger.
FRESH_BUILD := rm -rf build

test-runtime: $(RUNTIME_VENV)/.installed $(LEGACY_VENV)/.installed $(TFLITE_VENV)/.installed $(ONNX_VENV)/.installed
	$(FRESH_BUILD)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	cd tests && ../$(RUNTIME_VENV)/bin/python -m pytest -m runtime -p no:cacheprovider --rootdir=.. -c ../pyproject.toml $(RUNTIME_TESTS)
	$(FRESH_BUILD)
	$(LEGACY_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	cd tests && ../$(LEGACY_VENV)/bin/python -m pytest -m runtime -p no:cacheprovider --rootdir=.. -c ../pyproject.toml $(RUNTIME_TESTS)
	$(FRESH_BUILD)
	$(TFLITE_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	cd tests && PARITY_EDGE_ONLY_BACKEND=tflite ../$(TFLITE_VENV)/bin/python -m pytest -m one_backend -p no:cacheprovider --rootdir=.. -c ../pyproject.toml $(ONE_BACKEND_TESTS)
	$(FRESH_BUILD)
	$(ONNX_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	cd tests && PARITY_EDGE_ONLY_BACKEND=onnx ../$(ONNX_VENV)/bin/python -m pytest -m one_backend -p no:cacheprovider --rootdir=.. -c ../pyproject.toml $(ONE_BACKEND_TESTS)

# The bar itself: default training runs from scratch (two seeds) must be proved exact, count
# every evaluation string right and win every string by at least 0.5.
test-slow: $(VENV)/.installed
	$(PY) -m pytest -m slow tests/train/test_train.py

# TensorFlow's numbers as the other CPU kind computes them. oneDNN picks its kernels (and so
# its order of summation) by instruction set; on an AVX-512 machine ONEDNN_MAX_CPU_ISA=AVX2
# makes it use the AVX2 ones, so the tests that compare numbers TensorFlow computes (marker
# `numerics`: export, model, training with the slow default runs, parity) see both kinds in one
# CI run. On an AVX2-only machine the suite above already ran on those kernels.
test-avx2: $(VENV)/.installed
	@if grep -q avx512f /proc/cpuinfo; then \
		echo "test-avx2: this CPU has AVX-512; the numerics tests again on oneDNN's AVX2 kernels"; \
		ONEDNN_MAX_CPU_ISA=AVX2 $(PY) -m pytest -m "numerics or slow"; \
	else \
		echo "test-avx2: this CPU has no AVX-512, so the tests above already ran on oneDNN's AVX2 kernels"; \
	fi

bench: $(VENV)/.installed $(RUNTIME_VENV)/.installed $(TFLITE_VENV)/.installed $(ONNX_VENV)/.installed
	$(PY) -m bench --out $(ARTIFACTS)
	@echo "next: read $(ARTIFACTS)/bench.md (the README's results section is that file)"

# The recipe's evidence: five seeds trained from defaults, each exported and soaked on
# 100,000,000 fresh strings per file (about 25 minutes); writes recipe.json and recipe.md.
SOAK ?= 100000000
evidence: $(VENV)/.installed
	$(PY) -m bench.recipe --seeds 0-4 --soak $(SOAK) --out $(ARTIFACTS)
	@echo "next: read $(ARTIFACTS)/recipe.md (the README's per-seed table is that file)"

# Only runtime.batch (local Ray, and two nodes on loopback) against runtime.predict:
# artifacts/bench_batch.json and .md. BATCH_LINES=200000 for a quick check.
BATCH_LINES ?= 10000000
bench-batch: $(VENV)/.installed
	$(PY) -m bench --batch --lines $(BATCH_LINES) --out $(ARTIFACTS)
	@echo "next: read $(ARTIFACTS)/bench_batch.md (the README's \"Beyond one machine\" figures)"

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) $(LEGACY_VENV) $(TFLITE_VENV) $(ONNX_VENV) $(TOOLS_VENV) build *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
