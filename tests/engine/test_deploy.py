"""predict_files and evaluate_run dispatch on the card's task through the predictor registry."""

from __future__ import annotations

import pytest
import torch

from layerlab import tasks  # noqa: F401  (registers the task predictors, as `layerlab predict` does)
from layerlab.engine.card import ModelCard
from layerlab.engine.checkpoint import save_weights
from layerlab.engine.deploy import PREDICTORS, evaluate_run, predict_files
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError
from layerlab.models import get_model


def test_each_task_has_a_predictor_with_a_description_and_an_evaluation():
    assert PREDICTORS.names() == ["autoencoder", "classification", "ctc", "detection", "gan", "language-model", "regression",
                                  "segmentation", "translation", "vae"]
    for task in PREDICTORS.names():
        meta = PREDICTORS.get(task).meta
        # a GAN run is judged inside its lab (a LeNet-5 judge, 10,000 samples): no `layerlab eval`, but --samples
        assert callable(meta["describe"]) and callable(meta["evaluate"]) == (task != "gan"), task
        assert callable(meta["sample"]) == (task in ("gan", "vae")), task


def mlp_run(tmp_path, **card_fields) -> RunDir:
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(2, 1))
    with torch.no_grad():                                  # y = 3·x1 - x2 + 0.5, in standardised units
        model.layers[0].weight.copy_(torch.tensor([[3.0, -1.0]]))
        model.layers[0].bias.fill_(0.5)
    run = RunDir.create(tmp_path, "lab", {})
    save_weights(model, run.weights_path())
    ModelCard(model="mlp", overrides={"sizes": [2, 1]}, input_shape=(2,), **card_fields).save(run.path / "model.json")
    return run


def test_a_regression_card_predicts_csv_rows_in_the_data_units(tmp_path):
    run = mlp_run(tmp_path, task="regression", loss="mse", feature_names=("x1", "x2"), mean=(1.0, 0.0),
                  std=(2.0, 1.0), target_mean=10.0, target_std=4.0)
    (tmp_path / "rows.csv").write_text("x2,x1\n1,3\n0,1\n")
    # row 1: ((3-1)/2, 1) -> 3·1 - 1 + 0.5 = 2.5 -> 2.5·4 + 10 = 20; row 2: (0, 0) -> 0.5 -> 12
    assert [r["prediction"] for r in predict_files(run.path, [str(tmp_path / "rows.csv")])] == [20.0, 12.0]


def test_a_card_with_an_unknown_task_is_one_line(tmp_path):
    run = mlp_run(tmp_path, task="tracking")
    with pytest.raises(LayerlabError, match="names the task 'tracking', which has no predictor; known tasks: "
                                            "autoencoder, classification, ctc, detection, gan, language-model, regression, "
                                            "segmentation, translation, vae"):
        predict_files(run.path, ["x.png"])


def test_eval_of_a_run_without_unseen_data_says_how_it_was_judged(tmp_path):
    run = mlp_run(tmp_path, task="regression", dataset="boston-housing", test_split="",
                  extra={"judged_by": "judged by 5-fold cross-validation: the honest figure is mlp_rmse = 3.1"})
    with pytest.raises(LayerlabError) as info:
        evaluate_run(run.path)
    assert str(info.value) == (f"{run.path} was judged by 5-fold cross-validation: the honest figure is mlp_rmse = 3.1; "
                               "`layerlab eval` has no unseen data to score it on, but `layerlab predict` works")


@pytest.mark.parametrize("content, message", [
    (b"3,1\n1,0\n", "rows.csv: expected a header row naming the columns x1, x2, then one row of numbers per "
                    "prediction; its first row 3, 1 lacks x1, x2"),                # header-less: was "missing []"
    (b"x1,x2\n", "rows.csv has a header but no rows to predict; expected a header row naming the columns x1, x2"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "rows.csv is not a CSV text file; this regression run predicts "
                                                     "from CSV rows: a header row naming the columns x1, x2"),
])
def test_a_regression_run_says_what_file_it_expected(tmp_path, content, message):
    run = mlp_run(tmp_path, task="regression", loss="mse", feature_names=("x1", "x2"))
    (tmp_path / "rows.csv").write_bytes(content)
    with pytest.raises(LayerlabError) as error:
        predict_files(run.path, [str(tmp_path / "rows.csv")])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_prompt_for_a_model_that_reads_files_is_one_line(tmp_path):
    from layerlab.engine.deploy import predict_prompt

    run = mlp_run(tmp_path, task="regression", loss="mse", feature_names=("x1", "x2"))
    with pytest.raises(LayerlabError, match="--prompt is for a language model or a translator; .* holds a regression "
                                            "model: pass it files instead"):
        predict_prompt(run.path, "hello")
