# The two commands: `make run` and `make test`. Both create .venv and install requirements-dev.txt
# (the runtime requirements.txt plus the test and development tools) first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test lint install

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python scripts/dev.py run

test: $(STAMP)
	$(VENV)/bin/python scripts/dev.py test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
