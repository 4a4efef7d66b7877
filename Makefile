# The README's two commands: `make demo` and `make test`. Each builds .venv on first use and
# refreshes it when pyproject.toml changes, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
BENCH  := .bench-venv
MUTATE := .mutation-venv

.PHONY: demo test test-all bench bench-labs mutation install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m layerlab run mnist-mlp --dataset digits --epochs 30 --batch-size 32

# Two pytest-xdist workers, each test at one torch thread (tests/conftest.py), a test file per worker
# at a time: on 2 cores the suite takes 7.4 minutes instead of 12.4 in one process (AMD EPYC, AVX2).
TEST_JOBS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile

test-all: $(STAMP)
	$(PY) -m pytest -m '' -n $(TEST_JOBS) --dist loadfile

# The benchmarks run in their own venv: the peers they compare against (Keras, Lightning,
# scikit-learn's MLP) must never become dependencies of layerlab.
$(BENCH)/.installed-stamp: pyproject.toml benchmarks/requirements.txt
	test -x $(BENCH)/bin/python || $(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/pip install -q --disable-pip-version-check torch==2.13.0
	$(BENCH)/bin/pip install -q --disable-pip-version-check -e . -r benchmarks/requirements.txt
	touch $@

bench: $(BENCH)/.installed-stamp
	$(BENCH)/bin/python benchmarks/run_all.py

# The README's lab table: every lab's default run, one at a time, each between two matmul canaries.
bench-labs: $(STAMP)
	$(PY) benchmarks/labs.py

# Mutation testing (docs/testing.md): mutmut 3 changes one operator, number or name at a time in the
# modules whose numbers users read ([tool.mutmut] in pyproject.toml) and checks that a test fails.
# Its own venv: mutmut is never a dependency of layerlab, and layerlab itself is uninstalled there so
# the tests import mutmut's mutated copy of src/. `make mutation MODULES="layerlab.data.splits"`
# checks some modules only. 11 minutes for all of them on 2 shared cores (29 under heavier load).
$(MUTATE)/.installed-stamp: pyproject.toml
	test -x $(MUTATE)/bin/python || $(PYTHON) -m venv $(MUTATE)
	$(MUTATE)/bin/pip install -q --disable-pip-version-check torch==2.13.0
	$(MUTATE)/bin/pip install -q --disable-pip-version-check '.[test]' 'mutmut>=3.8,<4'
	$(MUTATE)/bin/pip uninstall -q -y layerlab
	touch $@

mutation: $(MUTATE)/.installed-stamp
	rm -rf mutants && mkdir mutants
	$(MUTATE)/bin/mutmut run --max-children 2 $(foreach m,$(MODULES),"$(m).*") > mutants/run.log 2>&1 \
		|| { tail -c 3000 mutants/run.log; exit 1; }
	$(MUTATE)/bin/python benchmarks/mutation_score.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache mutants
