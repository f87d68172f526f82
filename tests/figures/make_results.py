#!/usr/bin/env python3
"""make_results.py — write a synthetic results file (DESIGN.md, "Results file", format v1) with
h5py, for the figures tests: two models (a VLM with image + caption streams, its base LLM with
the caption stream only), curves with the shapes the papers report (an ID hump in intermediate
layers, CKA decaying away from the diagonal, alignment rising with depth).

usage: make_results.py OUT.h5 [--no-id] [--seed S]
The numbers are random but plausible; the figures tests compare what is drawn with them."""
import argparse

import h5py
import numpy as np


def curve(rng, n, lo, hi, shape):
    t = np.linspace(0.0, 1.0, n)
    if shape == "hump":
        base = np.sin(np.pi * t) ** 1.5
    elif shape == "rise":
        base = t ** 0.7
    else:  # fall
        base = 1.0 - t ** 0.8
    return lo + (hi - lo) * base + rng.normal(0.0, 0.02 * (hi - lo), n)


def cka_matrix(rng, la, lb, scale):
    ia = np.linspace(0.0, 1.0, la)[:, None]
    ib = np.linspace(0.0, 1.0, lb)[None, :]
    m = np.exp(-np.abs(ia - ib) / scale) * 0.95 + rng.uniform(0.0, 0.05, (la, lb))
    return np.clip(m, 0.0, 1.0)


def write_stream(rng, g, n, with_interval, layers=None):
    if layers is not None:
        g.attrs["layers"] = np.asarray(layers, dtype=np.int64)
    k = 8
    sv = np.sort(rng.gamma(2.0, 1.0, (n, k)), axis=1)[:, ::-1] * np.linspace(1, 4, n)[:, None]
    g["spectrum"] = sv
    g["effective_rank"] = curve(rng, n, 3.0, 7.0, "hump")
    g["participation_ratio"] = curve(rng, n, 2.0, 5.0, "hump")
    g["pca_id_90"] = np.round(curve(rng, n, 3.0, 8.0, "hump"))
    for est, lo, hi in (("twonn", 8.0, 25.0), ("mle", 10.0, 30.0), ("gride", 9.0, 28.0)):
        est_values = curve(rng, n, lo, hi, "hump")
        g[f"id/{est}"] = est_values
        if with_interval and est != "mle":
            width = rng.uniform(0.5, 2.0, n)
            g[f"id/{est}_interval"] = np.stack([est_values - width, est_values + width], axis=1)
    g["norms"] = np.exp(curve(rng, n, 0.5, 4.0, "rise"))
    g["consecutive_cosine"] = curve(rng, n, 0.6, 0.98, "rise")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--no-id", action="store_true", help="leave out every id/ dataset")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with h5py.File(args.out, "w") as f:
        f.attrs["format"] = "strata-results"
        f.attrs["format_version"] = 1
        f.attrs["inputs"] = "synthetic (tests/figures/make_results.py)"
        f.attrs["metrics"] = "spectrum,id,cka,overlap,alignment,norms"
        # llava-tiny: 9 kept layers out of 16 (every other one), streams image + caption.
        vlm_layers = list(range(0, 17, 2))
        n = len(vlm_layers)
        for stream in ("image", "caption"):
            g = f.create_group(f"llava-tiny/{stream}")
            write_stream(rng, g, n, with_interval=True, layers=vlm_layers)
        f["llava-tiny/cka/image__image"] = cka_matrix(rng, n, n, 0.35)
        f["llava-tiny/cka/caption__caption"] = cka_matrix(rng, n, n, 0.5)
        f["llava-tiny/cka/image__caption"] = cka_matrix(rng, n, n, 0.25) * 0.7
        f["llava-tiny/overlap/image__caption"] = np.clip(curve(rng, n, 0.02, 0.4, "rise"), 0, 1)
        a = f.create_group("llava-tiny/alignment/image__caption")
        a["cosine_mean"] = curve(rng, n, 0.05, 0.6, "rise")
        a["cosine_median"] = a["cosine_mean"][:] + rng.normal(0.0, 0.02, n)
        a["retrieval_at_1"] = np.clip(curve(rng, n, 0.0, 0.8, "rise"), 0, 1)
        # vicuna-tiny: the base LLM, 13 layers (0..12, no layers attr), caption only.
        m = 13
        write_stream(rng, f.create_group("vicuna-tiny/caption"), m, with_interval=False)
        f["vicuna-tiny/cka/caption__caption"] = cka_matrix(rng, m, m, 0.45)
        f["cross/llava-tiny__vicuna-tiny/cka/caption"] = cka_matrix(rng, n, m, 0.4) * 0.9
        if args.no_id:
            for model in ("llava-tiny/image", "llava-tiny/caption", "vicuna-tiny/caption"):
                del f[f"{model}/id"]


if __name__ == "__main__":
    main()
