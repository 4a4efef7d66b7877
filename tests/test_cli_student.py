"""The student's path through the CLI (issue 11): options that explain themselves, runs that say
where they are, failed starts that leave nothing behind, smoke runs that say so."""

from __future__ import annotations

import dataclasses

import pytest

from layerlab.cli import main
from layerlab.labs import LABS
from layerlab.labs.base import option_help


def test_every_option_of_every_registered_lab_has_help():
    missing = [f"{name} --{f.name.replace('_', '-')}" for name in LABS.names()
               for f in dataclasses.fields(LABS.get(name).meta["config"])
               if not option_help(LABS.get(name).meta["config"], f.name)[0]]
    assert missing == []


def test_run_lab_help_shows_help_default_and_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "cubic-sin", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())     # argparse wraps to the terminal's width
    assert ("--method METHOD how the gradients are found: by hand, by autograd, or by torch.optim.SGD through fit "
            "(default: manual); one of manual, autograd, optim") in out
    assert "--iterations ITERATIONS gradient-descent steps over all the points (default: 2000)" in out
    assert "--quick, --no-quick a smoke run: a small slice of the data" in out


def test_run_help_lists_the_labs_and_says_what_quick_does(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "  cubic-sin            Fit a cubic to sin(x) with hand-written gradients" in out.splitlines()
    assert all(f"  {name} " in out for name in LABS.names())
    assert "--quick: a smoke run: a small slice of the data and one or two epochs" in out


def test_a_value_outside_an_options_choices_is_one_line_before_any_run_folder(tmp_path, capsys):
    assert main(["run", "stock-rnn", "--cell", "transformer", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: --cell must be rnn, lstm, gru or all; got 'transformer'\n"
    assert list(tmp_path.iterdir()) == []
