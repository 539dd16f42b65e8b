"""How separable are the synthetic species at best? An upper bound from the generator's exact call parameters.

The issue-4 target asks the default model for species macro-F1 >= 0.95 on `ml synth --difficulty hard` data.
This asks what any classifier could reach from *perfect* measurements of the same calls: no audio is rendered;
for each file the generator would make (same class mix: main bat plus an optional second bat, as
`random_recording_spec` draws them), every pass is expanded with `ml.synth._pass_calls` and each echolocation
call's exact parameters are read from the generator's own call objects (duration, start / peak / lowest
frequency, bandwidth, glide, shape, interval to the previous call). Gradient boosting (scikit-learn, which
librosa already installs) is fitted per call and per pass, split by file so that no individual is on both
sides.

Included in the call values: per-individual preferred values, per-call jitter, clutter shift and shortening,
Doppler (`--emitted` divides Doppler back out). Not included: noise, echoes, absorption, the rendering's SNR
filter, the measured box. Measuring from audio can only do worse.

    OMP_NUM_THREADS=1 .venv/bin/python bench/species_bound.py [--per-class 1500] [--no-ipi] [--harmonics] [--emitted]

(about 3 minutes with 1500 files per class on one core; results in docs/model.md, "How far the synthetic
target can go")
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import confusion_matrix, f1_score

from ml import synth
from ml.labels import DEFAULT_LABEL_SET, NOISE

SHAPES = ("fm", "fm_qcf", "qcf", "cf_fm")
CALL_FEATS = [
    "dur_ms",
    "start_khz",
    "peak_khz",
    "low_khz",
    "bw_khz",
    "glide_khz",
    "fm_frac",
    "tail_frac",
    *[f"is_{s}" for s in SHAPES],
    "ipi_prev_ms",
]
HARM_FEATS = ["h2_db", "ref_harm"]


def call_rows(calls, bat, emitted: bool):
    geo = synth._Geometry(bat)
    rows, prev_onset = [], None
    for c in sorted(calls, key=lambda c: c.onset_s):
        ipi = (c.onset_s - prev_onset) * 1e3 if prev_onset is not None else np.nan
        prev_onset = c.onset_s
        if c.call_type != "echolocation":
            continue
        d = geo.doppler(c.onset_s) if emitted else 1.0
        if c.shape in ("fm", "cf_fm"):
            low = c.end_hz
        else:  # fm_qcf / qcf: end of the QCF line
            low = c.peak_hz - 0.5 * c.glide_hz
        h = dict(c.harmonics)
        rows.append(
            [
                c.duration_s * 1e3,
                c.start_hz / d / 1e3,
                c.peak_hz / d / 1e3,
                low / d / 1e3,
                (c.start_hz - low) / d / 1e3,
                c.glide_hz / d / 1e3,
                c.fm_fraction,
                c.tail_fraction,
                *[float(c.shape == s) for s in SHAPES],
                ipi,
                h.get(2, -99.0) - h.get(c.reference_harmonic, 0.0),
                float(c.reference_harmonic),
            ]
        )
    return rows


def draw(n_per_class: int, seed: int, emitted: bool):
    labels = [lab for lab in DEFAULT_LABEL_SET if lab != NOISE]
    P = []  # per pass: (pass id, class, file id, 1 when it is the file's main bat)
    pass_calls = {}
    pid = 0
    for class_index, label in enumerate(DEFAULT_LABEL_SET):
        if label == NOISE:
            continue
        for i in range(n_per_class):
            rng = np.random.default_rng([synth.GENERATOR_VERSION, seed, 1, class_index, i])
            spec = synth.random_recording_spec(label, rng, synth.HARD)
            fid = class_index * 100000 + i
            for bat in spec.bats:
                rows = call_rows(synth._pass_calls(bat, spec, rng), bat, emitted)
                if not rows:
                    continue
                y = labels.index(bat.species)
                pass_calls[pid] = np.array(rows)
                P.append((pid, y, fid, int(bat.individual == 0)))
                pid += 1
    return labels, pass_calls, np.array(P)


def pass_features(rows: np.ndarray) -> np.ndarray:
    num = rows[:, [0, 1, 2, 3, 4, 5, 6, 7]]
    ipi = rows[:, 12]
    feats = []
    for f in (np.mean, np.std, np.min, np.max, np.median):
        feats.extend(f(num, axis=0))
    feats.extend(rows[:, 8:12].mean(axis=0))  # shape shares
    feats.append(len(rows))
    good = ipi[np.isfinite(ipi)]
    feats.extend([np.median(good), np.min(good), good.std()] if len(good) else [np.nan] * 3)
    pk = rows[:, 2]
    feats.append(np.mean(np.abs(np.diff(pk))) if len(pk) > 1 else np.nan)  # alternation
    du = rows[:, 0]
    feats.append(np.mean(np.abs(np.diff(du))) if len(du) > 1 else np.nan)
    feats.extend(rows[0, 13:15])
    return np.array(feats, dtype=float)


def fit_eval(Xtr, ytr, Xte, yte, labels, title):
    t0 = time.time()
    clf = HistGradientBoostingClassifier(
        max_iter=400,
        learning_rate=0.1,
        max_leaf_nodes=63,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=0,
    )
    clf.fit(Xtr, ytr)
    pred = clf.predict(Xte)
    macro = f1_score(yte, pred, average="macro")
    per = f1_score(yte, pred, average=None, labels=range(len(labels)))
    cm = confusion_matrix(yte, pred, labels=range(len(labels)))
    print(
        f"\n== {title}: macro-F1 {macro:.4f}  (train {len(ytr)}, test {len(yte)}, {clf.n_iter_} iters, "
        f"{time.time() - t0:.0f}s)"
    )
    for k, lab in enumerate(labels):
        print(f"  {lab:32s} F1 {per[k]:.3f}  n={cm[k].sum()}")
    off = [
        (cm[a, b] / max(cm[a].sum(), 1), labels[a], labels[b])
        for a in range(len(labels))
        for b in range(len(labels))
        if a != b and cm[a, b] > 0
    ]
    print("  main confusions (share of true class):")
    for share, a, b in sorted(off, reverse=True)[:10]:
        print(f"    {a} -> {b}: {share:.3f}")
    return macro, per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=1500, help="files per bat class")
    parser.add_argument(
        "--no-ipi", action="store_true", help="per call: leave out the interval to the previous call"
    )
    parser.add_argument("--harmonics", action="store_true", help="add the exact second-harmonic level")
    parser.add_argument("--emitted", action="store_true", help="frequencies without Doppler")
    args = parser.parse_args()
    n, harm, emitted = args.per_class, args.harmonics, args.emitted
    t0 = time.time()
    labels, pass_calls, P = draw(n, seed=4242, emitted=emitted)
    print(
        f"drew {len(P)} passes, {sum(len(v) for v in pass_calls.values())} echolocation calls "
        f"in {time.time() - t0:.0f}s (n/class={n}, emitted={emitted}, harmonic features={harm})"
    )
    train_file = (P[:, 2] % 100000) < int(0.7 * n)  # split by file: no individual on both sides
    cols = list(range(12 if args.no_ipi else 13)) + ([13, 14] if harm else [])
    Xc_tr, yc_tr, Xc_te, yc_te = [], [], [], []
    for (pid, y, _fid, _main), tr in zip(P, train_file):
        r = pass_calls[pid][:, cols]
        (Xc_tr if tr else Xc_te).append(r)
        (yc_tr if tr else yc_te).extend([y] * len(r))
    Xc_tr, Xc_te = np.vstack(Xc_tr), np.vstack(Xc_te)
    yc_tr, yc_te = np.array(yc_tr), np.array(yc_te)
    # cap per-call training size (one core)
    rs = np.random.default_rng(0)
    if len(yc_tr) > 200000:
        keep = rs.choice(len(yc_tr), 200000, replace=False)
        Xc_tr, yc_tr = Xc_tr[keep], yc_tr[keep]
    fit_eval(Xc_tr, yc_tr, Xc_te, yc_te, labels, "PER CALL")

    Xp = np.array([pass_features(pass_calls[pid]) for pid in P[:, 0]])
    if not harm:
        Xp = Xp[:, :-2]
    y = P[:, 1]
    fit_eval(Xp[train_file], y[train_file], Xp[~train_file], y[~train_file], labels, "PER PASS (all passes)")
    te_main = (~train_file) & (P[:, 3] == 1)
    clf_main = HistGradientBoostingClassifier(max_iter=400, early_stopping=True, random_state=0)
    clf_main.fit(Xp[train_file], y[train_file])
    pm = clf_main.predict(Xp[te_main])
    print(
        f"\n== PER PASS, main bat only (~per recording): macro-F1 {f1_score(y[te_main], pm, average='macro'):.4f}"
        f" (n={te_main.sum()})"
    )
    ncalls = np.array([len(pass_calls[p]) for p in P[:, 0]])
    for lo, hi in ((1, 2), (3, 5), (6, 10), (11, 1000)):
        m = (~train_file) & (ncalls >= lo) & (ncalls <= hi)
        if m.sum():
            pr = clf_main.predict(Xp[m])
            print(
                f"   all test passes with {lo}-{hi} calls: macro-F1 {f1_score(y[m], pr, average='macro'):.4f} (n={m.sum()})"
            )


if __name__ == "__main__":
    main()
