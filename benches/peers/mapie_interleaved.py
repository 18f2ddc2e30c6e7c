"""Alternates MAPIE (mapie_conformal.py's measurement) with this crate's
(`cargo run --release -p papercraft-benches --example conformal_rows`) for several rounds on
one machine, and prints each round's ratio and their median: on a shared machine either
side's speed drifts by tens of percent within minutes, so ratios are taken only between runs
a few seconds apart.

Run by hand, never by CI (needs the venv of mapie_conformal.py):
    .venv/bin/python benches/peers/mapie_interleaved.py [ROUNDS]
"""
import pathlib
import re
import statistics
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import mapie_conformal as peer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def ours(binary):
    out = subprocess.run([binary], check=True, capture_output=True, text=True).stdout
    return {m[1]: float(m[2]) for m in re.finditer(r"ours/(\S+): (\S+) rows/s", out)}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "papercraft-benches", "--example", "conformal_rows"],
        check=True,
        cwd=ROOT,
    )
    binary = str(ROOT / "target/release/examples/conformal_rows")
    ratios = {}
    for r in range(rounds):
        a = ours(binary)
        m = peer.measure()
        for key, rows in a.items():
            ratios.setdefault(key, []).append(rows / m[key])
            print(f"round {r}: {key:<12} ours {rows:.3e}  mapie {m[key]:.3e}  ratio {rows / m[key]:5.1f}")
    for key, rs in ratios.items():
        print(f"{key:<12} median ratio {statistics.median(rs):5.1f} (min {min(rs):.1f}, max {max(rs):.1f}, {len(rs)} rounds)")


if __name__ == "__main__":
    main()
