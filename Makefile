# Two commands for a newcomer: `make demo` (set up and serve the demo county) and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
VENV := .venv
BIN := $(VENV)/bin
UV := .tools/bin/uv
UV_VERSION := 0.13.8
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test venv lint browser-deps messages clean

# uv itself is installed from PyPI into .tools/ with the Python that scripts/find-python picks,
# so no system-wide tool is required beyond Python >= 3.12.
$(UV):
	@py=$$(scripts/find-python) || exit 1; \
	"$$py" -m venv .tools && .tools/bin/pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"

$(BIN)/yici: pyproject.toml uv.lock | $(UV)
	@py=$$(scripts/find-python) || exit 1; $(UV) sync --frozen --python "$$py"
	@touch $@

venv: $(BIN)/yici

demo: venv
	$(BIN)/yici migrate --noinput -v0
	$(BIN)/yici collectstatic --noinput -v0
	$(BIN)/yici demo
	$(BIN)/yici serve --host $(HOST) --port $(PORT)

test: venv
	scripts/run-tests

lint: venv
	$(BIN)/ruff check src tests bench

browser-deps:
	scripts/install-browser

# Regenerate and compile translations (needs GNU gettext); the compiled .mo files are committed.
messages: venv
	cd src/yici && ../../$(BIN)/yici makemessages -l zh_Hans -l en --no-obsolete -i 'testing/*' && ../../$(BIN)/yici compilemessages

clean:
	rm -rf $(VENV) .tools var/static
