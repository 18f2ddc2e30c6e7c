"""Peer for benches/benches/hmm_linear_filter.rs: hmmlearn's forward pass (log domain).

Run by hand, never by CI:
    python3 -m venv .venv && .venv/bin/pip install hmmlearn numpy
    .venv/bin/python benches/peers/hmmlearn_forward.py

It builds the same kind of model as the Rust bench (random permutation T and a dense stochastic T,
16 positive emission symbols, uniform start) and times `CategoricalHMM.score` (the forward
algorithm, which hmmlearn runs in the log domain in C) on one trajectory, reporting filter steps
per second to compare with criterion's `hmm-linear-filter/single/<S>/lof-*` throughput.
"""
import time

import numpy as np
from hmmlearn.hmm import CategoricalHMM


def model(n, rng, dense):
    if dense:
        t = rng.random((n, n))
        t /= t.sum(axis=0, keepdims=True)
    else:
        t = np.zeros((n, n))
        t[rng.permutation(n), np.arange(n)] = 1.0
    e = 0.05 + rng.random((16, n))
    e /= e.sum(axis=0, keepdims=True)
    m = CategoricalHMM(n_components=n, init_params="", params="")
    m.startprob_ = np.full(n, 1.0 / n)
    m.transmat_ = t.T  # hmmlearn is row-stochastic: transmat_[i, j] = P(j | i)
    m.emissionprob_ = e.T
    m.n_features = 16
    return m


def main():
    rng = np.random.default_rng(1)
    for n in (2, 16, 256, 4096):
        steps = 20 if n >= 4096 else 2000
        for dense in (True, False):
            m = model(n, rng, dense)
            obs = rng.integers(0, 16, size=(steps, 1))
            m.score(obs)  # warm-up
            reps, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 2.0:
                m.score(obs)
                reps += 1
            dt = (time.perf_counter() - t0) / reps
            kind = "dense-T" if dense else "permutation-T"
            print(f"hmmlearn/single/{n}/{kind}: {steps / dt:.4g} steps/s")


if __name__ == "__main__":
    main()
