# The two commands: `make run` and `make test`. Both create .venv and install requirements.txt first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

.PHONY: run test lint install

$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python scripts/dev.py run

test: $(STAMP)
	$(VENV)/bin/python scripts/dev.py test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
