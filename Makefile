# Every target does its own set-up on a fresh machine (`make demo`, `make test`, `make lint`, ...).
# torch is installed first and pinned (the CPU wheel), so nothing can pull a CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0

.PHONY: setup demo test test-slow lint zoo speed configs clean

$(BIN)/nndoctor: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: $(BIN)/nndoctor

# $(call expect_exit,CODE,COMMAND): run COMMAND and fail only when its exit code is not CODE (a broken example
# rightly exits 1: that is the demo working, not failing).
expect_exit = $(2); rc=$$?; \
	if [ $$rc -ne $(1) ]; then echo "demo: expected exit $(1), got $$rc" >&2; exit 1; fi; \
	echo "(exit $$rc, as expected)"

demo: setup
	@echo "== a healthy setup: expect exit 0"
	@$(call expect_exit,0,$(BIN)/nndoctor run examples/healthy/config.yaml)
	@echo
	@echo "== a broken setup (all-zero inputs): expect exit 1 with ND102 first"
	@$(call expect_exit,1,$(BIN)/nndoctor run examples/all_zero_inputs/config.yaml)

test: setup
	$(BIN)/python -m pytest -n auto

test-slow: setup
	$(BIN)/python -m pytest -n auto -m slow

lint: setup
	$(BIN)/ruff check .

zoo: setup
	$(BIN)/python benchmarks/zoo/run.py

speed: setup
	$(BIN)/python benchmarks/speed/run.py

configs: setup
	$(BIN)/python -c "from nndoctor.config.scaffold import options_reference, template; \
		open('configs/checks.yaml', 'w').write(options_reference()); open('configs/template.yaml', 'w').write(template())"

clean:
	rm -rf $(VENV) *.egg-info build dist
