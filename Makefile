# Two commands do their own set-up on a fresh machine: `make demo` and `make test`.
# torch is installed first and pinned (the CPU wheel), so nothing can pull a CUDA build.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0

.PHONY: setup demo test bench zoo speed configs clean

$(BIN)/nndoctor: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: $(BIN)/nndoctor

demo: setup
	-$(BIN)/nndoctor run examples/healthy/config.yaml
	-$(BIN)/nndoctor run examples/all_zeros/config.yaml

test: setup
	$(BIN)/python -m pytest

zoo: setup
	$(BIN)/python benchmarks/zoo/run.py

speed: setup
	$(BIN)/python benchmarks/speed/run.py

configs: setup
	$(BIN)/python -c "from nndoctor.config.scaffold import options_reference, template; \
		open('configs/checks.yaml', 'w').write(options_reference()); open('configs/template.yaml', 'w').write(template())"

clean:
	rm -rf $(VENV) *.egg-info build dist
