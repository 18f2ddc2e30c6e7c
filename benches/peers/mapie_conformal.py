"""Peer for benches/benches/conformal.rs: MAPIE's split conformal classification on the same
kind of probabilities (10^4 calibration rows, 10^6 test rows x 10 classes, LAC and APS), reporting
calibrate + predict rows per second.

Run by hand, never by CI:
    python3 -m venv .venv && .venv/bin/pip install mapie numpy scikit-learn
    .venv/bin/python benches/peers/mapie_conformal.py

Its figures on the development machine are kept in mapie_conformal.json beside this file, which
`cargo xtask bench conformal` reads to print its ratios.

The classifier is an identity "model" whose predict_proba returns its input, so MAPIE scores
exactly the given probabilities, as the Rust bench does.
"""
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mapie.classification import SplitConformalClassifier

K = 10


class Identity(ClassifierMixin, BaseEstimator):
    def fit(self, x, y):
        self.classes_ = np.arange(K)
        return self

    def predict_proba(self, x):
        return x

    def predict(self, x):
        return np.argmax(x, axis=1)


def data(n, seed):
    rng = np.random.default_rng(seed)
    r = rng.random((n, K)) ** 3
    p = r / r.sum(axis=1, keepdims=True)
    u = rng.random(n)
    y = np.minimum((p.cumsum(axis=1) < u[:, None]).sum(axis=1), K - 1)
    return p, y


def measure():
    """Rows per second of calibrate + predict_set, best of 3, per "score/n"."""
    cal, yc = data(10_000, 1)
    out = {}
    for n in (100_000, 1_000_000):
        test, _ = data(n, 2)
        for score in ("lac", "aps"):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                m = SplitConformalClassifier(
                    estimator=Identity().fit(cal, yc),
                    confidence_level=0.9,
                    conformity_score=score,
                    prefit=True,
                )
                m.conformalize(cal, yc)
                _, sets = m.predict_set(test)
                best = min(best, time.perf_counter() - t0)
            out[f"{score}/{n}"] = n / best
    return out


def main():
    for key, rows in measure().items():
        print(f"mapie/{key}: {rows:.4g} rows/s")


if __name__ == "__main__":
    main()
