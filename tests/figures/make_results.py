#!/usr/bin/env python3
"""make_results.py — write a synthetic results file with h5py, following the layout documented in
io/results.h (format v1, as `strata analyze` writes it), for the figures tests: two models (a VLM
with image + caption streams, its base LLM with the caption stream only), curves with the shapes
the papers report (an ID hump in intermediate layers, CKA decaying away from the diagonal,
alignment rising with depth), and the caption NLL of `extract --nll` archives (the VLM with an
intervention, a bootstrap interval and a change from a baseline; the base LLM with neither).
One deliberate difference: the base LLM's stream group has no
`layers` attribute, to exercise the reader's fallback (layer = row index). The VLM's streams
carry num_layers = 24 (the layers 0..16 analysed of a 24-layer model: depth is layer / 24); the
LLM's do not (depth falls back to the last layer analysed).

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
    g.attrs["hidden_size"] = np.int64(64)
    g.attrs["pool"] = "mean"
    k = 8
    sv = np.sort(rng.gamma(2.0, 1.0, (n, k)), axis=1)[:, ::-1] * np.linspace(1, 4, n)[:, None]
    g["spectrum"] = sv
    g["explained_variance"] = sv**2 / (sv**2).sum(axis=1, keepdims=True)
    g["effective_rank"] = curve(rng, n, 3.0, 7.0, "hump")
    g["participation_ratio"] = curve(rng, n, 2.0, 5.0, "hump")
    g["pca_id_90"] = np.round(curve(rng, n, 3.0, 8.0, "hump"))
    for est, lo, hi in (("twonn", 8.0, 25.0), ("mle", 10.0, 30.0), ("mle_mean", 11.0, 32.0),
                        ("gride", 9.0, 28.0)):
        est_values = curve(rng, n, lo, hi, "hump")
        g[f"id/{est}"] = est_values
        if with_interval:
            width = rng.uniform(0.5, 2.0, n)
            g[f"id/{est}_interval"] = np.stack([est_values - width, est_values + width], axis=1)
    g["id/twonn"].attrs["fraction"] = 0.9
    g["id/mle"].attrs["k"] = np.int64(100)
    g["id/mle_mean"].attrs["k"] = np.int64(100)
    g["id/gride"].attrs["n1"] = np.int64(16)
    n1 = 2 ** np.arange(6)
    g["id/gride_scaling"] = (g["id/gride"][:][:, None] * (1 + 0.3 * np.log2(n1 + 1)[None, :] / 3)
                             + rng.normal(0, 0.3, (n, len(n1))))
    g["id/gride_scaling"].attrs["n1"] = n1.astype(np.int64)
    g["id/gride_scaling_r"] = np.outer(np.linspace(1.0, 3.0, n), 1.0 + np.log1p(n1))
    g["id/n_duplicates"] = np.zeros(n)
    g["id/n_zero_distance"] = np.zeros(n)
    if with_interval:
        g["id"].attrs["n_bootstrap"] = np.int64(20)
        g["id"].attrs["seed"] = np.int64(1)
    g["norms"] = np.exp(curve(rng, n, 0.5, 4.0, "rise"))
    steps = np.array([1, 2, 4, 8])
    cc = np.stack([curve(rng, n, 0.6, 0.98, "rise") - 0.05 * i for i in range(4)], axis=1)
    kept = list(layers) if layers is not None else list(range(n))
    for i, s in enumerate(steps):  # NaN where layer l + s is not analysed (all of s = 1 when
        for row, layer in enumerate(kept):  # every other layer is kept)
            if layer + s not in kept:
                cc[row, i] = np.nan
    g["consecutive_cosine"] = cc
    g["consecutive_cosine"].attrs["steps"] = steps.astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--no-id", action="store_true", help="leave out every id/ dataset")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with h5py.File(args.out, "w") as f:
        f.attrs["format"] = "strata-results"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["inputs"] = "synthetic (tests/figures/make_results.py)"
        f.attrs["metrics"] = "spectrum,id,cka,overlap,alignment,norms"
        # llava-tiny (group name: the model name with '/' replaced by '_'): 9 analysed layers
        # out of 16 (every other one), streams image + caption.
        vlm, llm = "llava-hf_llava-tiny", "vicuna-tiny"
        f.create_group(vlm).attrs["model_name"] = "llava-hf/llava-tiny"
        f.create_group(llm).attrs["model_name"] = "vicuna-tiny"
        vlm_layers = list(range(0, 17, 2))
        n = len(vlm_layers)
        for stream in ("image", "caption"):
            write_stream(rng, f.create_group(f"{vlm}/{stream}"), n, True, layers=vlm_layers)
            f[f"{vlm}/{stream}"].attrs["num_layers"] = np.int64(24)
        for variant, shift in (("cka", 0.0), ("cka_unbiased", 0.05)):
            f[f"{vlm}/{variant}/image__image"] = cka_matrix(rng, n, n, 0.35) - shift
            f[f"{vlm}/{variant}/caption__caption"] = cka_matrix(rng, n, n, 0.5) - shift
            f[f"{vlm}/{variant}/image__caption"] = cka_matrix(rng, n, n, 0.25) * 0.7 - shift
        f[f"{vlm}/cka/image__image"].attrs["hsic"] = "biased"
        for pair, scale in (("image__image", 0.3), ("caption__caption", 0.4), ("image__caption", 0.2)):
            f[f"{vlm}/overlap_matrix/{pair}"] = cka_matrix(rng, n, n, scale) * 0.6
            f[f"{vlm}/overlap_matrix/{pair}"].attrs["k"] = np.int64(30)
        f[f"{vlm}/overlap/image__caption"] = np.clip(curve(rng, n, 0.02, 0.4, "rise"), 0, 1)
        f[f"{vlm}/overlap/image__caption"].attrs["k"] = np.int64(30)
        a = f.create_group(f"{vlm}/alignment/image__caption")
        a["cosine_mean"] = curve(rng, n, 0.05, 0.6, "rise")
        a["cosine_median"] = a["cosine_mean"][:] + rng.normal(0.0, 0.02, n)
        a["retrieval_at_1"] = np.clip(curve(rng, n, 0.0, 0.8, "rise"), 0, 1)
        # vicuna-tiny: the base LLM, 13 layers (0..12), caption only.
        m = 13
        write_stream(rng, f.create_group(f"{llm}/caption"), m, with_interval=False)
        f[f"{llm}/cka/caption__caption"] = cka_matrix(rng, m, m, 0.45)
        f[f"{llm}/cka_unbiased/caption__caption"] = cka_matrix(rng, m, m, 0.45) - 0.03
        f[f"{llm}/overlap_matrix/caption__caption"] = cka_matrix(rng, m, m, 0.3) * 0.6
        cross = f"cross/{vlm}__{llm}"
        f[f"{cross}/cka/caption"] = cka_matrix(rng, n, m, 0.4) * 0.9
        f[f"{cross}/cka_unbiased/caption"] = cka_matrix(rng, n, m, 0.4) * 0.85
        f[f"{cross}/overlap/caption"] = cka_matrix(rng, n, m, 0.3) * 0.5
        f[f"{cross}/overlap/caption"].attrs["k"] = np.int64(30)
        # caption NLL (analysis/nll.h): the VLM with a skip-ffn intervention, its change from a
        # baseline and bootstrap intervals; the LLM with a plain mean only (no --nll-baseline,
        # no --bootstrap)
        g = f.create_group(f"{vlm}/nll")
        g.attrs["interventions"] = "skip-ffn:4-15"
        g.attrs["flops_saved_per_sample"] = 1.25e9
        g.attrs["baseline"] = "baseline.h5"
        g.attrs["n_bootstrap"] = np.int64(200)
        g.attrs["seed"] = np.int64(1)
        mean, delta = rng.uniform(40.0, 60.0), rng.uniform(0.5, 3.0)
        g["mean"] = [mean]
        g["n_used"] = [250.0]
        g["mean_interval"] = [mean - rng.uniform(1, 3), mean + rng.uniform(1, 3)]
        g["delta_mean"] = [delta]
        g["n_paired"] = [250.0]
        g["delta_interval"] = [delta - rng.uniform(0.1, 0.4), delta + rng.uniform(0.1, 0.4)]
        g = f.create_group(f"{llm}/nll")
        g.attrs["interventions"] = ""
        g.attrs["flops_saved_per_sample"] = 0.0
        g["mean"] = [rng.uniform(30.0, 50.0)]
        g["n_used"] = [256.0]
        if args.no_id:
            for stream in (f"{vlm}/image", f"{vlm}/caption", f"{llm}/caption"):
                del f[f"{stream}/id"]


if __name__ == "__main__":
    main()
