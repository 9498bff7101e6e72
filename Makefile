# Neural Networks for Image Processing and Generation: the two commands.
#   make book   set up .venv and build the site (every notebook executed) into _build/html
#   make test   set up .venv and run the whole test suite (unit, property, data, notebooks)
# Everything is installed from pyproject.toml; nothing needs to be done by hand.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= book,test,grading

.PHONY: all help venv data test test-unit test-notebooks lint book lab bench \
        notebook-report clean distclean

all: help

help:
	@echo "make test             set up .venv, fetch data, run every test (notebooks in the smoke profile)"
	@echo "make book             set up .venv, fetch data, build the site into _build/html (default profile)"
	@echo "make lab              open the notebooks in JupyterLab"
	@echo "make bench            run the benchmarks (figures for the benchmarks appendix)"
	@echo "make notebook-report  time every notebook in a fresh kernel (wall time, peak memory)"
	@echo "make data             make sure Fashion-MNIST is available"

venv: $(STAMP)

# The virtual environment, rebuilt when pyproject.toml changes. A local CPU
# wheel of torch is used where the machine has one (tools/torch_constraint.py).
$(STAMP): pyproject.toml tools/torch_constraint.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/torch_constraint.py > $(VENV)/constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check \
	    -c $(VENV)/constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

# Fashion-MNIST: found locally, else from Debian's package (when we may install
# it), else downloaded from the official source and verified by SHA-256.
data: $(STAMP)
	@$(PY) -m course_lib.data fetch fashion-mnist --no-download >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's dataset-fashion-mnist package"; \
	    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || true; \
	  fi; \
	  $(PY) -m course_lib.data fetch fashion-mnist; }

lint: $(STAMP)
	$(PY) -m ruff check course_lib tests benchmarks tools

test-unit: $(STAMP) data
	COURSE_PROFILE=smoke $(PY) -m pytest tests -p no:cacheprovider

test-notebooks: $(STAMP) data
	COURSE_PROFILE=smoke $(PY) -m pytest --nbval-lax --nbval-current-env book -p no:cacheprovider

test: $(STAMP) data lint
	COURSE_PROFILE=smoke $(PY) -m pytest tests book --nbval-lax --nbval-current-env -p no:cacheprovider

book: $(STAMP) data
	COURSE_PROFILE=default $(VENV)/bin/jupyter-book build . -W -n --keep-going

lab: $(STAMP) data
	$(PY) -m pip install --quiet jupyterlab
	$(VENV)/bin/jupyter lab book

bench: $(STAMP)
	$(PY) benchmarks/bench_conv.py --json benchmarks/results/conv.json \
	    --markdown benchmarks/results/conv.md
	$(PY) benchmarks/bench_cnn.py --json benchmarks/results/cnn.json \
	    --markdown benchmarks/results/cnn.md
	$(PY) benchmarks/bench_gan.py --json benchmarks/results/gan.json \
	    --markdown benchmarks/results/gan.md
	$(PY) benchmarks/bench_vae.py --json benchmarks/results/vae.json \
	    --markdown benchmarks/results/vae.md
	$(PY) benchmarks/bench_style.py --json benchmarks/results/style.json \
	    --markdown benchmarks/results/style.md
	$(PY) benchmarks/bench_restore.py --json benchmarks/results/restore.json \
	    --markdown benchmarks/results/restore.md

notebook-report: $(STAMP) data
	$(PY) tools/notebook_report.py --profile default \
	    --json benchmarks/results/notebooks.json --markdown benchmarks/results/notebooks.md

clean:
	rm -rf _build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV)
