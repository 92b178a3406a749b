"""The quality model, evaluated with numpy alone.

Training (training/train.py) fits with scikit-learn and exports plain arrays with joblib; nothing
here imports scikit-learn or scipy, which would cost Lambda seconds of cold start and most of the package size limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from handler.errors import ModelError

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "model.joblib"
FORMAT = 1


@dataclass(frozen=True)
class Linear:
    """quality = intercept + coef . x, with x clamped to the range seen in training."""

    features: tuple[str, ...]
    coef: np.ndarray
    intercept: float
    low: np.ndarray
    high: np.ndarray

    def __call__(self, x: np.ndarray) -> float:
        return float(self.intercept + np.clip(x, self.low, self.high) @ self.coef)


@dataclass(frozen=True)
class Trees:
    """A gradient-boosted sum of regression trees, exported as node arrays (scikit-learn's layout)."""

    features: tuple[str, ...]
    init: float
    learning_rate: float
    trees: tuple[dict[str, np.ndarray], ...]

    def __call__(self, x: np.ndarray) -> float:
        x = x.astype(np.float32)  # scikit-learn's trees compare float32 inputs with their thresholds
        total = self.init
        for tree in self.trees:
            node = 0
            while tree["left"][node] >= 0:
                go_left = x[tree["feature"][node]] <= tree["threshold"][node]
                node = tree["left"][node] if go_left else tree["right"][node]
            total += self.learning_rate * float(tree["value"][node])
        return total


def _build(spec: Mapping[str, Any]) -> Linear | Trees:
    features = tuple(spec["features"])
    if spec["kind"] == "linear":
        return Linear(
            features=features,
            coef=np.asarray(spec["coef"], dtype=np.float64),
            intercept=float(spec["intercept"]),
            low=np.asarray(spec["low"], dtype=np.float64),
            high=np.asarray(spec["high"], dtype=np.float64),
        )
    if spec["kind"] == "trees":
        return Trees(
            features=features,
            init=float(spec["init"]),
            learning_rate=float(spec["learning_rate"]),
            trees=tuple({k: np.asarray(v) for k, v in tree.items()} for tree in spec["trees"]),
        )
    raise ModelError(f"unknown model kind {spec['kind']!r}")


@dataclass(frozen=True)
class Model:
    """One regressor per SSIMULACRA2 target, or one shared regressor that takes the target as a feature."""

    version: str
    by_target: Mapping[str, Linear | Trees]

    def predict(self, features: Mapping[str, float], target: int) -> float:
        """The predicted lowest quality reaching `target`, before any bounds are applied."""
        regressor = self.by_target.get(str(target)) or self.by_target.get("all")
        if regressor is None:
            raise ModelError(f"model {self.version} has no entry for target {target}")
        values = {**features, "target": float(target)}
        return regressor(np.array([values[name] for name in regressor.features], dtype=np.float64))


def from_artifact(artifact: Mapping[str, Any]) -> Model:
    if artifact.get("format") != FORMAT:
        raise ModelError(f"model format {artifact.get('format')!r}, expected {FORMAT}")
    return Model(
        version=str(artifact["version"]),
        by_target={str(k): _build(v) for k, v in artifact["models"].items()},
    )


def load(path: Path = DEFAULT_MODEL_PATH) -> Model:
    try:
        return from_artifact(joblib.load(path))
    except FileNotFoundError as exc:
        raise ModelError(f"no model at {path}: run `make model`") from exc
