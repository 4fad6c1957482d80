# The two commands of the README:
#   make book   -- set up, execute every chapter on the full data, build the site
#   make test   -- set up, run every test (unit, notebooks via nbmake, book build, then
#                  the JAX-backend, minimum-versions and Colab-stack targets)
# Each target creates .venv and installs requirements.txt when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

# Cached MNIST and stored training runs live inside the checkout.
export RNN_MNIST_HOME ?= $(CURDIR)/.cache/rnn-mnist
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1

.PHONY: setup data book book-small test test-tensorflow test-jax test-min test-colab benchmark sync-mocks clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

data: setup
	$(BIN)/rnn-mnist data
	bash scripts/fetch-fashion-mnist.sh

book: data
	$(BIN)/rnn-mnist book --profile full

book-small: data
	$(BIN)/rnn-mnist book --profile small

test: test-tensorflow test-jax test-min test-colab

# Everything on TensorFlow (the book's backend): `pytest --nbmake tests notebooks`.
test-tensorflow: data
	bash scripts/install-test-deps.sh $(VENV)
	$(BIN)/python -m pytest --nbmake tests notebooks

# Model, data and training tests on the JAX backend, in a separate .venv-jax.
test-jax: data
	bash scripts/test-jax.sh

# The oldest supported versions (requirements-min.txt), in a separate .venv-min: package tests
# and two chapters on the small profile.
test-min: data
	bash scripts/test-min-versions.sh

# Colab's stack (requirements-colab.txt), in a separate .venv-colab without this package: every
# chapter on the small profile, each through its own install cell pointed at the checkout.
test-colab: data
	bash scripts/test-colab-stack.sh

benchmark: data
	$(BIN)/python benchmarks/time_to_accuracy.py

sync-mocks: setup
	$(BIN)/rnn-mnist sync-mocks

clean:
	rm -rf book/_build book/notebooks book/.executing book/results.md artifacts
