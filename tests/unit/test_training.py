"""Training's contract with the function: what scikit-learn fitted, handler/quality/model.py evaluates alike with
numpy; and a model depends on the label table's content only."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from handler.quality.features import FEATURES
from handler.quality.model import from_artifact
from training import train

pytestmark = pytest.mark.slow  # fits scikit-learn models: seconds each, and scipy to import


def _synthetic(rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, len(train.MODEL_FEATURES)))
    y = 70 + 8 * X[:, 0] - 4 * X[:, 1] * X[:, 2] + np.where(X[:, 3] > 0, 5, 0) + rng.normal(size=rows)
    return X, y


@pytest.mark.parametrize("name", sorted(train.CANDIDATES))
def test_each_candidate_evaluated_with_numpy_predicts_what_scikit_learn_predicts(name):
    X, y = _synthetic()
    estimator = train.CANDIDATES[name]().fit(X, y)
    regressor = from_artifact(train.artifact("test", {"all": train.export(estimator, X)})).by_target["all"]
    ours = np.array([regressor(row) for row in X])
    np.testing.assert_allclose(ours, estimator.predict(X), rtol=0, atol=1e-6)


def _write(path: Path, fields: list[str], rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def _label_tables(folder: Path, shuffle: int) -> None:
    """Features and quality curves of 40 made-up pictures, the curve rows in a shuffled order."""
    rng = np.random.default_rng(1)
    images, points = [], []
    for index in range(40):
        name, values = f"picture-{index:02d}.jpg", rng.uniform(0, 3, len(FEATURES))
        images.append({"name": name, "pixel_hash": f"{index:016x}", "split": "train" if index % 4 else "test",
                       **dict(zip(FEATURES, values, strict=False))})
        for quality in range(1, 101):  # scores rise with quality; pictures with more detail need more
            score = 100 - (100 - quality) * (0.6 + 0.3 * values[0])
            points.append({"name": name, "subsampling": "4:2:0", "quality": quality, "score": score, "bytes": 0})
    random.Random(shuffle).shuffle(points)
    _write(folder / "images.csv", ["name", "pixel_hash", "split", *FEATURES], images)
    _write(folder / "curves.csv", ["name", "subsampling", "quality", "score", "bytes"], points)


def test_the_model_depends_on_the_labels_not_on_the_order_labelling_wrote_them(tmp_path, monkeypatch):
    # labelling appends each picture's curve as its worker finishes, so the order differs between runs
    models = []
    for shuffle in (0, 1):
        folder = tmp_path / str(shuffle)
        folder.mkdir()
        _label_tables(folder, shuffle)
        monkeypatch.setattr(train, "CURVES", folder / "curves.csv")
        monkeypatch.setattr(train, "IMAGES", folder / "images.csv")
        table = train.table()
        models.append(train.fit_model(table.where(table.split == "train"), "trees-d3-huber")["all"])
    first, second = models
    assert len(first["trees"]) == len(second["trees"])
    for a, b in zip(first["trees"], second["trees"], strict=False):
        assert all(np.array_equal(a[key], b[key]) for key in a)
