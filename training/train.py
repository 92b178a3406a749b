"""Fit the quality models and write models/: `python -m training.train`.

Two models, both trained on the train split of the labels and scored on the held-out split:
- seed: the idea we start from, one linear regression bpp -> oracle quality per target, fitted on
  images with bpp <= 4.15, never recommending below 50;
- model: one regressor over every feature with the target as an input, chosen by cross-validation.
Each is exported as plain arrays (handler/quality/model.py evaluates them with numpy alone).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GroupKFold, cross_val_predict

from handler.quality.features import FEATURES
from handler.quality.model import FORMAT, from_artifact
from handler.settings import PRESETS
from training.label import CURVES
from training.measure import IMAGES
from training.oracle import oracle_quality

MODELS = Path(__file__).resolve().parent.parent / "models"
SEED_MAX_BPP = 4.15
SEED_FLOOR = 50
SUBSAMPLING = "4:2:0"


@dataclass
class Table:
    """One row per (image, target) with a reachable oracle quality."""

    names: np.ndarray
    groups: np.ndarray
    split: np.ndarray
    target: np.ndarray
    X: np.ndarray
    y: np.ndarray

    def where(self, mask: np.ndarray) -> Table:
        return Table(*(getattr(self, f)[mask] for f in ("names", "groups", "split", "target", "X", "y")))

    def column(self, feature: str) -> np.ndarray:
        return self.target.astype(float) if feature == "target" else self.X[:, FEATURES.index(feature)]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def curves(subsampling: str = SUBSAMPLING) -> dict[str, dict[int, float]]:
    by_name: dict[str, dict[int, float]] = {}
    for row in read_csv(CURVES):
        if row["subsampling"] == subsampling:
            by_name.setdefault(row["name"], {})[int(row["quality"])] = float(row["score"])
    return by_name


def labels(points: dict[int, float], target: int) -> int | None:
    """The oracle quality, replayed from the stored points (labelling closed every target's bracket)."""
    return oracle_quality(points.__getitem__, target, points)


def table(subsampling: str = SUBSAMPLING) -> Table:
    # one row per picture: the corpus holds copies that differ only in their EXIF
    images = {row["pixel_hash"]: row for row in read_csv(IMAGES)}
    images = {row["name"]: row for row in images.values()}
    rows = []
    for name, points in sorted(curves(subsampling).items()):  # in name order: labelling appends in finishing order,
        # and the boosted trees' subsamples depend on the row order
        image = images.get(name)
        if image is None:
            continue
        for target in PRESETS:
            quality = labels(points, target)
            if quality is not None:
                rows.append((name, image["pixel_hash"], image["split"], target,
                             [float(image[f]) for f in FEATURES], quality))
    names, groups, split, target, X, y = zip(*rows, strict=False)
    return Table(np.array(names), np.array(groups), np.array(split), np.array(target), np.array(X), np.array(y, float))


# --- export: scikit-learn estimators -> plain arrays ---------------------------------------------

def export_linear(estimator: LinearRegression | Ridge, features: list[str], X: np.ndarray) -> dict:
    return {
        "kind": "linear",
        "features": features,
        "coef": np.asarray(estimator.coef_, dtype=float).tolist(),
        "intercept": float(estimator.intercept_),
        "low": X.min(axis=0).tolist(),
        "high": X.max(axis=0).tolist(),
    }


def export_trees(estimator: GradientBoostingRegressor, features: list[str]) -> dict:
    trees = []
    for (tree,) in estimator.estimators_:
        t = tree.tree_
        trees.append({
            "feature": t.feature.astype(np.int32),
            "threshold": t.threshold.astype(np.float64),
            "left": t.children_left.astype(np.int32),
            "right": t.children_right.astype(np.int32),
            "value": t.value[:, 0, 0].astype(np.float64),
        })
    return {
        "kind": "trees",
        "features": features,
        "init": float(estimator.init_.constant_.ravel()[0]),
        "learning_rate": float(estimator.learning_rate),
        "trees": trees,
    }


# --- the two models --------------------------------------------------------------------------------

def fit_seed(train: Table) -> dict:
    models = {}
    for target in PRESETS:
        rows = train.where((train.target == target) & (train.column("bpp") <= SEED_MAX_BPP))
        X = rows.column("bpp")[:, None]
        fitted = LinearRegression().fit(X, rows.y)
        spec = export_linear(fitted, ["bpp"], X)
        models[str(target)] = spec
    return models


MODEL_FEATURES = [*FEATURES, "target"]


def model_matrix(rows: Table) -> np.ndarray:
    return np.column_stack([rows.column(f) for f in MODEL_FEATURES])


CANDIDATES = {
    "ridge": lambda: Ridge(alpha=1.0),
    "trees-d2": lambda: GradientBoostingRegressor(n_estimators=150, max_depth=2, learning_rate=0.05,
                                                  subsample=0.8, random_state=0),
    "trees-d3": lambda: GradientBoostingRegressor(n_estimators=200, max_depth=3, learning_rate=0.05,
                                                  subsample=0.8, random_state=0),
    "trees-d3-huber": lambda: GradientBoostingRegressor(n_estimators=200, max_depth=3, learning_rate=0.05,
                                                        subsample=0.8, loss="huber", random_state=0),
}


def choose_model(train: Table) -> tuple[str, dict[str, float]]:
    """The candidate with the least cross-validated mean absolute error (folds grouped by picture)."""
    X = model_matrix(train)
    errors = {}
    for name, make in CANDIDATES.items():
        predicted = cross_val_predict(make(), X, train.y, groups=train.groups, cv=GroupKFold(5))
        errors[name] = float(np.mean(np.abs(predicted - train.y)))
    return min(errors, key=errors.get), errors


def export(estimator: Ridge | GradientBoostingRegressor, X: np.ndarray) -> dict:
    """A fitted candidate over MODEL_FEATURES as plain arrays (X: what it was fitted on)."""
    return export_linear(estimator, MODEL_FEATURES, X) if isinstance(estimator, Ridge) else export_trees(
        estimator, MODEL_FEATURES)


def fit_model(train: Table, name: str) -> dict:
    X = model_matrix(train)
    return {"all": export(CANDIDATES[name]().fit(X, train.y), X)}


# --- scoring --------------------------------------------------------------------------------------

def accuracy(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    residual = actual - predicted
    return {
        "r2": float(1 - (residual**2).sum() / ((actual - actual.mean()) ** 2).sum()),
        "mae": float(np.abs(residual).mean()),
        "within_5": float((np.abs(residual) <= 5).mean()),
        "n": len(actual),
    }


def predict_rows(artifact: dict, rows: Table, floor: int) -> np.ndarray:
    model = from_artifact(artifact)
    predicted = [
        model.predict(dict(zip(FEATURES, x, strict=False)), int(t)) for x, t in zip(rows.X, rows.target, strict=False)
    ]
    return np.maximum(np.array(predicted), floor)


def evaluate(artifact: dict, test: Table, floor: int) -> dict[str, dict[str, float]]:
    report = {"all": accuracy(predict_rows(artifact, test, floor), test.y)}
    for target in PRESETS:
        rows = test.where(test.target == target)
        report[str(target)] = accuracy(predict_rows(artifact, rows, floor), rows.y)
    return report


def artifact(version: str, models: dict) -> dict:
    return {"format": FORMAT, "version": version, "models": models}


def card(path: Path, title: str, version: str, description: str, metrics: dict, extra: str = "") -> None:
    lines = [
        f"# {title}", "",
        f"- version: `{version}`",
        f"- trained: {dt.date.today().isoformat()} by `make model` (training/train.py)",
        ("- data: ../shared/corpus, labels in training/data/curves.csv (SSIMULACRA2 oracle, Pillow "
         "optimize=True, 4:2:0), features in training/data/images.csv; split by pixel hash, "
         "1 image in 4 held out"),
        f"- targets: {', '.join(map(str, PRESETS))} (SSIMULACRA2)",
        f"- what it is: {description}", "",
        "## Accuracy on the held-out split (quality steps, vs the oracle quality)", "",
        "| target | n | R^2 | mean abs error | within +/-5 |", "|---|---|---|---|---|",
        *(f"| {k} | {m['n']} | {m['r2']:.3f} | {m['mae']:.2f} | {m['within_5']:.1%} |" for k, m in metrics.items()),
        "", extra,
    ]
    path.write_text("\n".join(lines).rstrip() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    data = table()
    train, test = data.where(data.split == "train"), data.where(data.split == "test")
    stamp = dt.date.today().strftime("%Y%m%d")

    seed = artifact(f"seed-{stamp}", fit_seed(train))
    seed_metrics = evaluate(seed, test, SEED_FLOOR)
    joblib.dump(seed, MODELS / "seed.joblib", compress=3)
    card(MODELS / "seed_card.md", "Seed model card", seed["version"],
         f"per-target linear regression bpp -> quality, fitted on bpp <= {SEED_MAX_BPP}, "
         f"floored at {SEED_FLOOR}; inputs above {SEED_MAX_BPP} bpp are clamped to the fitted range",
         seed_metrics)

    chosen, cv_errors = choose_model(train)
    model = artifact(f"{chosen}-{stamp}", fit_model(train, chosen))
    metrics = evaluate(model, test, 1)
    joblib.dump(model, MODELS / "model.joblib", compress=3)
    cv = "\n".join(f"- {name}: cross-validated mean abs error {err:.2f}" for name, err in cv_errors.items())
    card(MODELS / "model_card.md", "Model card", model["version"],
         f"{chosen} over {', '.join(MODEL_FEATURES)}, chosen by 5-fold cross-validation "
         "grouped by picture on the train split",
         metrics, "## Candidates (train split)\n\n" + cv + "\n")
    for title, m in (("seed", seed_metrics), ("model", metrics)):
        print(title, {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in m.items()})


if __name__ == "__main__":
    main()
