"""gan-game: the 1-D GAN game's claims, as numbers."""

from __future__ import annotations

import json

import pytest

from layerlab.cli import main
from layerlab.viz.explain.gan import boundaries, gan_game_numbers


@pytest.fixture(scope="module")
def game() -> dict:
    return gan_game_numbers()


def test_d_starts_undecided_and_draws_a_boundary_between_fakes_and_real_data(game):
    start, first = game["snapshots"][0], game["snapshots"][1]
    assert (start["d_real"], start["d_fake"], start["boundaries"]) == (0.5, 0.5, [])    # all weights 0: sigmoid(0)
    assert first["fake_mean"] < first["boundaries"][0] < game["real_mean"]              # between the two crowds
    assert first["d_real"] > 0.7 and first["d_fake"] < 0.35


def test_the_fakes_cross_the_boundary_and_the_boundary_follows_them(game):
    means = [s["fake_mean"] for s in game["snapshots"]]
    assert means[0] == pytest.approx(-2.03, abs=0.01) and means[3] > 2.0                # G moved 4 units to the right
    lefts = [s["boundaries"][0] for s in game["snapshots"][1:4]]
    assert lefts[0] < lefts[1] < lefts[2]                                               # D redraws it further right


def test_at_the_end_d_cannot_tell_and_the_fakes_have_collapsed(game):
    end = game["snapshots"][-1]
    assert abs(end["d_real"] - 0.5) < 0.05 and abs(end["d_fake"] - 0.5) < 0.05
    assert end["fake_std"] < 0.01 < 0.5 < game["real_std"] + 0.1                        # one value: mode collapse


def test_boundaries_are_the_sign_changes_of_the_logit():
    # 0.1·x² - 1 = 0 at x = ±√10 ≈ ±3.162; a linear logit 2x - 3 crosses at 1.5
    assert boundaries([1.0, 0.0, -1.0]) == pytest.approx([-3.1623, 3.1623], abs=1e-3)
    assert boundaries([0.0, 2.0, -3.0]) == pytest.approx([1.5], abs=1e-9)


def test_the_cli_prints_the_steps_and_writes_the_figure(tmp_path, capsys):
    assert main(["explain", "gan-game", "80", "--out", str(tmp_path / "g.png"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [s["step"] for s in payload["snapshots"]] == [0, 10, 30, 60, 80] and (tmp_path / "g.png").stat().st_size > 0
    assert main(["explain", "gan-game", "20"]) == 2
    assert "STEPS must be more than 60" in capsys.readouterr().err
