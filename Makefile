# The two commands of the README: `make demo` and `make test`. Both start from nothing but python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export KEDRO_DISABLE_TELEMETRY := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-fast lint docs bench bench-smoke clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Workers: more than the 2 cores, since many tests wait (servers, timeouts, subprocesses).
WORKERS ?= 4
test: install lint
	$(PY) -m pytest -n $(WORKERS) --dist loadgroup --cov --cov-report=term -p no:cacheprovider --durations=25

# The inner loop: the datasets' and the config's tests and the doctests, no kedro run
# subprocess, no server, no coverage (under 3 minutes on 2 cores).
FAST_TESTS := src tests/io tests/test_architecture.py tests/test_bounds.py tests/test_version.py \
	tests/framework/test_config.py tests/framework/test_configure.py \
	tests/framework/test_params.py tests/framework/test_tags.py
test-fast: install
	$(PY) -m pytest -n 3 -q -p no:cacheprovider -m "not server and not s3" $(FAST_TESTS)

lint: install
	$(PY) -m ruff check conftest.py src tests $(wildcard benchmarks examples)
	$(PY) -m ruff format --check conftest.py src tests $(wildcard benchmarks examples)
	$(PY) -m mypy

demo: install
	$(PY) -c "import spaceflights_mlflow" 2>/dev/null || \
		$(PY) -m pip install --quiet -e examples/spaceflights-mlflow
	$(PY) examples/run_demo.py

# The site from docs/ (mkdocs-material); the references are generated from the code by
# docs/_gen/hooks.py, linted here since it is not part of the package.
docs: install
	$(PY) -m ruff check docs/_gen
	$(PY) -m ruff format --check docs/_gen
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: install
	$(PY) benchmarks/run.py

bench-smoke: install
	$(PY) benchmarks/run.py --smoke

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage* site
