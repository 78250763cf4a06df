# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install what they need; a stamp file keeps
# the second run fast.
comma  := ,
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= dev,fast,proxy,load,data,data-test,inprocess,model,resource,ml,report,rag,demo,ctk,k8s,otel,ray,mlflow,safety-test,spark
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test test-long test-fast lint typecheck bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $@

demo: $(STAMP)
	@$(VENV)/bin/aichaos demo; first=$$?; $(VENV)/bin/aichaos demo --rag; rag=$$?; \
		test $$first -eq 0 && test $$rag -eq 0

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/pytest

# The whole bundled demos (minutes each: torchrun restarts, every RAG fault); CI runs them.
test-long: $(STAMP)
	$(VENV)/bin/pytest -m long

test-fast: $(STAMP)
	$(VENV)/bin/pytest -m "not slow" -x -q

bench: $(STAMP)
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
