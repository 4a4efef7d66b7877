"""The model card: built by keyword only, saved and loaded whole, and a broken model.json is one line."""

from __future__ import annotations

import pytest

from layerlab.engine.card import ModelCard
from layerlab.errors import LayerlabError


def test_a_card_cannot_be_built_by_position():
    with pytest.raises(TypeError):
        ModelCard("mlp", {"sizes": (4, 3)}, (4,), "classification")   # which argument was the task?


def test_a_card_survives_a_save_and_load(tmp_path):
    card = ModelCard(model="mlp", overrides={"sizes": [4, 8, 1]}, input_shape=(4,), task="regression", loss="mse",
                     mean=(1.0, 2.0, 3.0, 4.0), std=(0.5, 0.5, 0.5, 0.5), dataset="boston-housing",
                     data_source="/data/boston/housing.csv", feature_names=("a", "b", "c", "d"),
                     target_mean=22.5, target_std=9.2, extra={"judged_by": "cross-validation"})
    card.save(tmp_path / "model.json")
    assert ModelCard.load(tmp_path / "model.json") == card


@pytest.mark.parametrize("text, message", [
    ("{not json", "cannot read"),
    ("[1, 2]", "should hold one JSON object"),
    ('{"model": "mlp", "colour": "red"}', "not a model card this layerlab can read"),
])
def test_a_broken_model_json_is_one_line(tmp_path, text, message):
    (tmp_path / "model.json").write_text(text)
    with pytest.raises(LayerlabError, match=message):
        ModelCard.load(tmp_path / "model.json")
