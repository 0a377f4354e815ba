"""`import keras_cnns` asks TensorFlow for its oneDNN kernels on x86, unless the user chose."""

import os
import subprocess
import sys

import pytest

from keras_cnns import _onednn

x86_only = pytest.mark.skipif(not _onednn.is_x86(), reason="TensorFlow's oneDNN switch is set on x86 only")


@x86_only
def test_request_sets_the_switch_before_tensorflow_is_imported():
    environ = {}
    assert _onednn.request_onednn(environ=environ, modules={})
    assert environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}


@pytest.mark.parametrize("environ, modules", [
    ({"TF_ENABLE_ONEDNN_OPTS": "0"}, {}),  # The user's choice stays.
    ({}, {"tensorflow": object()}),  # Too late: TensorFlow read the variable when it was imported.
])
def test_request_leaves_a_user_choice_and_an_imported_tensorflow_alone(environ, modules):
    before = dict(environ)
    assert not _onednn.request_onednn(environ=environ, modules=modules)
    assert environ == before


def test_no_advice_where_the_user_turned_onednn_off(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert _onednn.onednn_advice() is None


def run_without_the_switch(code):
    """Standard output of `python -c code` in a process whose environment lacks TF_ENABLE_ONEDNN_OPTS."""
    env = {name: value for name, value in os.environ.items() if name != "TF_ENABLE_ONEDNN_OPTS"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


@x86_only
def test_importing_keras_cnns_first_turns_onednn_on_and_the_log_stays_quiet():
    stdout = run_without_the_switch(
        "import os, keras_cnns; from keras_cnns import _onednn; "
        "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], _onednn.onednn_enabled(), _onednn.onednn_advice())")
    assert stdout.split() == ["1", "True", "None"]


@x86_only
def test_advice_names_the_fix_where_tensorflow_came_first():
    stdout = run_without_the_switch("import tensorflow, keras_cnns; from keras_cnns import _onednn; "
                                    "print(_onednn.onednn_enabled()); print(_onednn.onednn_advice())")
    enabled, advice = stdout.strip().split("\n", 1)
    if enabled == "True":  # This CPU is one TensorFlow turns oneDNN on for by itself.
        assert advice == "None"
    else:
        assert enabled == "False"
        assert "Import keras_cnns before keras or tensorflow" in advice and "TF_ENABLE_ONEDNN_OPTS=1" in advice
