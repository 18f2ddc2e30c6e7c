"""Reference values from hmmlearn for the hmm-linear-filter tests and bench.

Run: python benches/peers/hmmlearn_fixture.py (numpy, hmmlearn). Writes
crates/hmm-linear-filter/tests/fixtures/hmmlearn.json (smoothing, Viterbi, log-likelihood on two
random HMMs) and benches/peers/hmmlearn_forward.json (forward-algorithm speed at |S| = 4096).

Conventions: ours is column-stochastic T[i, j] = P(s_k = i | s_{k-1} = j), s_0 ~ pi0 with no
observation, then transition and emission each step. hmmlearn emits at its first state, so its
startprob is T pi0, its transmat is T^T and its emissionprob is E^T.
"""
import json, time, platform, sys
import numpy as np
import hmmlearn
from hmmlearn.hmm import CategoricalHMM

rng = np.random.default_rng(20261202)

def random_model(S, O, density):
    T = rng.random((S, S)) * (rng.random((S, S)) < density)
    for j in range(S):
        T[rng.integers(S), j] += 0.5  # every column has mass
    T /= T.sum(axis=0, keepdims=True)
    E = rng.random((O, S)) + 0.05
    E /= E.sum(axis=0, keepdims=True)
    pi = rng.random(S) + 0.05
    pi /= pi.sum()
    return T, E, pi

def sample(T, E, pi, steps):
    s = rng.choice(len(pi), p=pi)
    obs = []
    for _ in range(steps):
        s = rng.choice(T.shape[0], p=T[:, s])
        obs.append(int(rng.choice(E.shape[0], p=E[:, s])))
    return obs

def hmmlearn_model(T, E, pi, impl="log"):
    m = CategoricalHMM(n_components=T.shape[0], implementation=impl, init_params="", params="")
    m.n_features = E.shape[0]
    m.startprob_ = T @ pi
    m.transmat_ = T.T.copy()
    m.emissionprob_ = E.T.copy()
    return m

cases = []
for (S, O, steps, density) in [(8, 5, 300, 1.0), (30, 8, 150, 0.1)]:
    T, E, pi = random_model(S, O, density)
    obs = sample(T, E, pi, steps)
    m = hmmlearn_model(T, E, pi)
    X = np.array(obs).reshape(-1, 1)
    loglik = m.score(X)
    post = m.predict_proba(X)
    vlog, path = m.decode(X, algorithm="viterbi")
    cases.append({
        "transition": T.tolist(), "emission": E.tolist(), "initial": pi.tolist(),
        "observations": obs, "log_likelihood": loglik, "smoothed": post.tolist(),
        "viterbi_path": [int(p) for p in path], "viterbi_log_prob": vlog,
    })
json.dump({"generator": f"hmmlearn {hmmlearn.__version__}, benches/peers/hmmlearn_fixture.py",
           "cases": cases},
          open("crates/hmm-linear-filter/tests/fixtures/hmmlearn.json", "w"))

# Speed: forward algorithm (score) at |S| = 4096, dense random T and a permutation T.
S, O, steps = 4096, 16, int(sys.argv[1]) if len(sys.argv) > 1 else 20
bench = {"hmmlearn": hmmlearn.__version__, "numpy": np.__version__, "python": platform.python_version(),
         "states": S, "observations": O, "steps": steps, "results": []}
Ed = rng.random((O, S)) + 0.05
Ed /= Ed.sum(axis=0, keepdims=True)
pi = np.full(S, 1.0 / S)
dense = rng.random((S, S)); dense /= dense.sum(axis=0, keepdims=True)
perm = np.zeros((S, S)); perm[rng.permutation(S), np.arange(S)] = 1.0
for name, T in [("dense", dense), ("permutation", perm)]:
    obs = sample(T, Ed, pi, steps)
    X = np.array(obs).reshape(-1, 1)
    for impl in ["log", "scaling"]:
        m = hmmlearn_model(T, Ed, pi, impl)
        m.score(X[:2])
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter(); m.score(X); best = min(best, time.perf_counter() - t0)
        bench["results"].append({"transition": name, "implementation": impl,
                                 "seconds_per_step": best / steps})
        print(name, impl, best / steps, flush=True)
json.dump(bench, open("benches/peers/hmmlearn_forward.json", "w"), indent=1)
