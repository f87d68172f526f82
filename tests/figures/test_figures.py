#!/usr/bin/env python3
"""test_figures.py — `strata figures` end to end, against h5py, PIL and poppler's pdftoppm.

usage: test_figures.py CASE [RESULTS.h5]
  render      every figure of a results file renders; every number in every NAME.dat equals the
              results dataset its header names (h5py); every drawn metric of the file is used;
              PNGs decode (PIL) at the size the script asks for and are not blank; PDFs open
              with pdftoppm; index.md lists every figure with its sources.
              Without RESULTS.h5, a synthetic one is made with make_results.py.
  no_gnuplot  gnuplot missing (STRATA_GNUPLOT to a missing file; PATH without gnuplot): the
              command fails saying what to install; .dat and .gp are still written (index.md,
              which `strata study` reads as "figures done", is not).
  missing     metrics absent from the results are skipped and listed; --only on them fails.
  options     --only selects by name and prefix, --format png renders PNG only, bad options.
  bad_input   a missing file, an activation archive, a malformed dataset: clear messages.
  demo        the demo pipeline: `strata mkarchive` + `strata analyze` (under mpirun, 2 ranks)
              write real results, then `render` on them; skipped (77) until both commands exist."""
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
STRATA = os.environ["STRATA_BIN"]
PYTHON = sys.executable
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp/strata-figures-test")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def fresh(name):
    path = os.path.join(TMP, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def make_results(path, *extra):
    subprocess.run([PYTHON, os.path.join(HERE, "make_results.py"), path, *extra], check=True)
    return path


def figures(results, out, *args, env=None):
    cmd = [STRATA, "figures", results, "--out", out, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    print("$", " ".join(cmd), "->", proc.returncode)
    if proc.stderr:
        print(proc.stderr.rstrip())
    return proc


# ---- .dat files: every column against the dataset its header names --------------------------
def parse_dat(path):
    """Blocks of (header {column: spec}, rows as a 2-D array)."""
    blocks, spec, rows = [], {}, []

    def flush():
        if spec or rows:
            blocks.append((dict(spec), np.array(rows, dtype=float)))

    with open(path) as f:
        text = f.read()
    for chunk in re.split(r"\n\n\n", text):
        spec, rows = {}, []
        for line in chunk.splitlines():
            m = re.match(r"# column (\d+): (.*)$", line)
            if m:
                spec[int(m.group(1))] = m.group(2)
            elif line.strip() and not line.startswith("#"):
                rows.append([float(v) for v in line.split()])
        if rows:
            flush()
    return blocks


def dataset(h5, path):
    check(path in h5, f"{path}: named in a .dat but not in the results file")
    return np.asarray(h5[path][()], dtype=float) if path in h5 else None


def layers_of(h5, obj_path, n):
    if obj_path in h5 and "layers" in h5[obj_path].attrs:
        return np.asarray(h5[obj_path].attrs["layers"], dtype=float)
    return np.arange(n, dtype=float)


def close(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)


def check_block(h5, name, spec, data, used):
    ncols = data.shape[1]
    check(sorted(spec) == list(range(1, ncols + 1)),
          f"{name}: columns {sorted(spec)} named for {ncols} data columns")
    col = {k: data[:, k - 1] for k in range(1, ncols + 1)}
    for k, s in spec.items():
        got = col[k]
        where = f"{name} column {k} ({s})"
        if s == "layer = row index":
            check(close(got, np.arange(len(got), dtype=float)), where)
        elif s in ("i = row index", "j = column index"):
            check(np.all(got == np.round(got)) and got.min() == 0, where)
        elif m := re.fullmatch(r"layer = column (\d+)", s):
            check(close(got, col[int(m.group(1))]), where)
        elif m := re.fullmatch(r"(layer|n1) = (\S+)@(layers|n1)(?:\[column (\d+)\]|\[(\d+)\])?", s):
            obj, attr_name = m.group(2), m.group(3)
            check(obj in h5 and attr_name in h5[obj].attrs, f"{where}: no such attribute")
            if obj in h5 and attr_name in h5[obj].attrs:
                attr = np.asarray(h5[obj].attrs[attr_name], dtype=float)
                if m.group(4):
                    want = attr[col[int(m.group(4))].astype(int)]
                elif m.group(5):
                    want = np.full(len(got), attr[int(m.group(5))])
                else:
                    want = attr
                check(close(got, want), where)
                used.add(f"{obj}@{attr_name}")
        elif m := re.fullmatch(r"category = (\d+)", s):  # a point figure's x position
            check(close(got, np.full(len(got), float(m.group(1)))), where)
        elif m := re.fullmatch(r"(/\S+)@(\w+)", s):  # a scalar attribute
            obj, attr_name = m.group(1), m.group(2)
            check(obj in h5 and attr_name in h5[obj].attrs, f"{where}: no such attribute")
            if obj in h5 and attr_name in h5[obj].attrs:
                check(close(got, np.full(len(got), float(h5[obj].attrs[attr_name]))), where)
                used.add(s)
        elif m := re.fullmatch(r"(/\S+)\[(\d+)\]", s):  # one element of a 1-D dataset
            ds = dataset(h5, m.group(1))
            used.add(m.group(1))
            if ds is not None:
                check(ds.ndim == 1 and close(got, np.full(len(got), ds[int(m.group(2))])), where)
        elif m := re.fullmatch(r"layer = (\d+)", s):
            check(close(got, np.full(len(got), float(m.group(1)))), where)
        elif s == "n1 = 2 ** row index":
            check(close(got, 2.0 ** np.arange(len(got))), where)
        elif m := re.fullmatch(r"depth = column (\d+) / (\S+)", s):
            layer = col[int(m.group(1))]
            depth_l = float(m.group(2))
            check(close(got, layer / depth_l), where)
            # L is the tower's layer count (attribute num_layers of the stream group), else the
            # largest kept layer (attribute "layers"), or the last row index when every layer
            # is kept (no attribute).
            ref = spec.get(int(m.group(1)), "")
            ma = re.fullmatch(r"layer = (\S+)@layers.*", ref)
            matrix = [re.fullmatch(r"(\S+)\[\d+,:\]", v) for v in spec.values()]
            matrix = [x.group(1) for x in matrix if x]
            if ma and ma.group(1) in h5 and "num_layers" in h5[ma.group(1)].attrs:
                want_l = float(h5[ma.group(1)].attrs["num_layers"])
            elif ma and ma.group(1) in h5:
                want_l = float(np.max(h5[ma.group(1)].attrs["layers"]))
            elif matrix and matrix[0] in h5:
                want_l = float(h5[matrix[0]].shape[0] - 1)
            else:
                want_l = float(len(layer) - 1)
            check(abs(depth_l - max(want_l, 1)) < 1e-12, f"{where}: L={depth_l}, expected {want_l}")
        elif m := re.fullmatch(r"(\S+)\[(\d+),:\]", s):
            ds = dataset(h5, m.group(1))
            used.add(m.group(1))
            if ds is not None:
                check(close(got, ds[int(m.group(2)), :]), where)
        elif m := re.fullmatch(r"(\S+)\[column (\d+), column (\d+)\]", s):
            ds = dataset(h5, m.group(1))
            used.add(m.group(1))
            if ds is not None:
                i = col[int(m.group(2))].astype(int)
                j = col[int(m.group(3))].astype(int)
                check(close(got, ds[i, j]), where)
                check(len(set(zip(i, j))) == ds.size, f"{where}: not every matrix element drawn")
        elif m := re.fullmatch(r"(\S+)\[:,(\d+)\]", s):
            ds = dataset(h5, m.group(1))
            used.add(m.group(1))
            if ds is not None:
                check(close(got, ds[:, int(m.group(2))]), where)
        elif re.fullmatch(r"/\S+", s):
            ds = dataset(h5, s)
            used.add(s)
            if ds is not None:
                check(close(got, ds), where)
        else:
            check(False, f"{where}: unknown column spec")


# Not drawn: raw spectra, per-layer counts, the distances of the GRIDE scales, the NLL's sample
# counts (io/results.h, analysis/nll.h).
NOT_DRAWN = re.compile(r".*/(spectrum|explained_variance|id/n_\w+|id/gride_scaling_r|"
                       r"nll/n_used|nll/n_paired)$")


def drawn_datasets(h5):
    """Every dataset a figure must draw."""
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not NOT_DRAWN.match("/" + name):
            found.append("/" + name)

    h5.visititems(visit)
    return set(found)


MATRIX_GROUPS = {"cka": ("cka", "cka"), "cka_unbiased": ("cka_unbiased", "cka_unbiased"),
                 "overlap_matrix": ("overlap_matrix", "overlap")}  # prefix: (model, cross group)
PAIR_GROUPS = ("cka", "cka_unbiased", "overlap", "overlap_matrix", "alignment", "nll")


def expected_figures(h5):
    """Figure names from the file's structure (io/results.h), independently of strata."""
    names = set()
    for model in h5:
        if model == "cross":
            for pair in h5["cross"]:
                for prefix, (_, group) in MATRIX_GROUPS.items():
                    if group in h5[f"cross/{pair}"]:
                        names |= {f"{prefix}_cross_{pair}_{s}" for s in h5[f"cross/{pair}/{group}"]}
            continue
        for prefix, (group, _) in MATRIX_GROUPS.items():
            if group in h5[model]:
                names |= {f"{prefix}_{model}_{pair}" for pair in h5[f"{model}/{group}"]}
        streams = [s for s in h5[model] if s not in PAIR_GROUPS]
        if any("id" in h5[f"{model}/{s}"] for s in streams):
            names.add("intrinsic_dimension")
        if "overlap" in h5[model]:
            names.add("overlap")
        if "alignment" in h5[model]:
            names.add("alignment")
        if "nll" in h5[model] and "mean" in h5[f"{model}/nll"]:
            names.add("nll")
        for s in streams:
            g = h5[f"{model}/{s}"]
            if "effective_rank" in g or "participation_ratio" in g:
                names.add("spectrum")
            if "norms" in g:
                names.add("norms")
            if "consecutive_cosine" in g:
                names.add("consecutive_cosine")
            if "id" in g and "gride_scaling" in g["id"]:
                names.add("gride_scaling")
    return names


OKABE_ITO = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
             "#F0E442"}
VIRIDIS_ENDS = ("#440154", "#FDE725")  # viridis' published first and last colours


def check_style(h5, name, gp, blocks):
    """One style: Okabe-Ito line colours, legends naming models (one name per model drawn),
    viridis with a colour bar, labelled axes."""
    groups = [m for m in h5 if m != "cross"]
    models = {h5[m].attrs.get("model_name", m) for m in groups} | set(groups)
    check("set xlabel '" in gp and "set ylabel '" in gp, f"{name}.gp: unlabelled axes")
    if name == "nll":  # points, one per archive: tick labels name the model and interventions
        want = []
        for m in groups:
            if "nll" in h5[m] and "mean" in h5[f"{m}/nll"]:
                iv = h5[f"{m}/nll"].attrs.get("interventions", "")
                iv = iv.decode() if isinstance(iv, bytes) else iv
                want.append(f"{h5[m].attrs.get('model_name', m)} · {iv or 'no intervention'}")
        ticks = re.findall(r"set xtics rotate by 90 right \((.*)\)", gp)
        got = re.findall(r"'([^']*)' \d+", ticks[-1]) if ticks else []
        check(got == want, f"{name}.gp: tick labels {got}, expected {want}")
        colours = set(re.findall(r"c\d = '(#[0-9A-Fa-f]{6})'", gp))
        check(colours <= OKABE_ITO and colours, f"{name}.gp: colours {colours} not Okabe-Ito")
        return
    if "with image" in gp or "lc palette" in gp:
        check(all(c in gp for c in VIRIDIS_ENDS), f"{name}.gp: not the viridis map")
        check("set cblabel '" in gp and "unset colorbox" not in gp, f"{name}.gp: no colour bar")
        return
    colours = set(re.findall(r"c\d = '(#[0-9A-Fa-f]{6})'", gp))
    check(colours <= OKABE_ITO and colours, f"{name}.gp: colours {colours} not Okabe-Ito")
    titles = re.findall(r"title '([^']*) · [^']*'", gp)
    check(titles and all(t in models for t in titles),
          f"{name}.gp: legend entries {titles} do not name models {models}")
    drawn = {spec[3].split("/")[1] for spec, _ in blocks if 3 in spec}
    check(len(set(titles)) == len(drawn),
          f"{name}.gp: legend names {sorted(set(titles))} for models {sorted(drawn)}")


def check_png(path, gp_path):
    with open(gp_path) as f:
        m = re.search(r"pngcairo size (\d+),(\d+)", f.read())
    check(m is not None, f"{gp_path}: no pngcairo size")
    img = Image.open(path)
    img.load()
    want = (int(m.group(1)), int(m.group(2))) if m else None
    check(img.size == want, f"{path}: size {img.size}, script asks {want}")
    check(img.size[0] == 1050, f"{path}: width {img.size[0]}, expected 3.5 in at 300 dpi")
    gray = np.asarray(img.convert("L"), dtype=float)
    check(gray.std() > 10, f"{path}: blank (pixel std {gray.std():.2f})")
    rgb = np.asarray(img.convert("RGB"), dtype=int)
    coloured = (np.abs(rgb - rgb.mean(axis=2, keepdims=True)).max(axis=2) > 30).mean()
    check(coloured > 0.002, f"{path}: no coloured pixels ({coloured:.4f})")


def check_pdf(path, scratch):
    stem = os.path.join(scratch, os.path.basename(path)[:-4])
    proc = subprocess.run(["pdftoppm", "-r", "40", "-png", "-singlefile", path, stem],
                          capture_output=True, text=True)
    check(proc.returncode == 0, f"{path}: pdftoppm failed: {proc.stderr.strip()}")
    if proc.returncode == 0:
        gray = np.asarray(Image.open(stem + ".png").convert("L"), dtype=float)
        check(gray.std() > 10, f"{path}: renders blank")


def case_render(results=None):
    out = fresh("render")
    if results is None:
        results = make_results(os.path.join(out, "results.h5"))
    figdir = os.path.join(out, "figs")
    proc = figures(results, figdir)
    check(proc.returncode == 0, f"strata figures failed: {proc.stderr}")
    scratch = fresh("render-pdf")
    with h5py.File(results, "r") as h5:
        want = expected_figures(h5)
        got = {f[:-3] for f in os.listdir(figdir) if f.endswith(".gp")}
        check(got == want, f"figures {sorted(got)}, expected {sorted(want)}")
        with open(os.path.join(figdir, "index.md")) as f:
            index = f.read()
        used = set()
        for name in sorted(got):
            for ext in ("dat", "gp", "pdf", "png"):
                check(os.path.getsize(os.path.join(figdir, f"{name}.{ext}")) > 0, f"{name}.{ext}")
            blocks = parse_dat(os.path.join(figdir, f"{name}.dat"))
            check(len(blocks) > 0, f"{name}.dat: no data")
            for b, (spec, data) in enumerate(blocks):
                check_block(h5, f"{name}.dat block {b}", spec, data, used)
            # the script plots every block of its .dat
            with open(os.path.join(figdir, f"{name}.gp")) as f:
                gp = f.read()
            plotted = {int(b) for b in re.findall(r"index (\d+) ", gp)}
            for lo, hi in re.findall(r"for \[b=(\d+):(\d+)\]", gp):
                plotted |= set(range(int(lo), int(hi) + 1))
            for b in range(len(blocks)):
                check(b in plotted or len(blocks) == 1, f"{name}.gp does not plot block {b}")
            check_style(h5, name, gp, blocks)
            check_png(os.path.join(figdir, f"{name}.png"), os.path.join(figdir, f"{name}.gp"))
            check_pdf(os.path.join(figdir, f"{name}.pdf"), scratch)
            section = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", index, re.M | re.S)
            check(section is not None, f"index.md: no section for {name}")
        missing = drawn_datasets(h5) - used
        check(not missing, f"datasets in the results that no figure draws: {sorted(missing)}")
        for src in used:
            check(f"`{src}`" in index, f"index.md does not list source {src}")
    print(f"render: {len(got)} figures checked")


def case_no_gnuplot():
    out = fresh("no_gnuplot")
    results = make_results(os.path.join(out, "results.h5"))
    # PATH without gnuplot: every directory of PATH, those holding a gnuplot replaced by a copy
    # made of links to all their other programs (Open MPI's singleton start needs some of them).
    dirs = []
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        if not any(f.startswith("gnuplot") for f in os.listdir(d)):
            dirs.append(d)
            continue
        shadow = fresh(f"no_gnuplot_bin{len(dirs)}")
        for f in os.listdir(d):
            if not f.startswith("gnuplot"):
                os.symlink(os.path.join(d, f), os.path.join(shadow, f))
        dirs.append(shadow)
    no_gnuplot_path = os.pathsep.join(dirs)
    check(shutil.which("gnuplot", path=no_gnuplot_path) is None, "gnuplot still in PATH")
    envs = {
        "STRATA_GNUPLOT": dict(os.environ, STRATA_GNUPLOT=os.path.join(out, "no-such-gnuplot")),
        "PATH": {k: v for k, v in dict(os.environ, PATH=no_gnuplot_path).items()
                 if k != "STRATA_GNUPLOT"},
    }
    for how, env in envs.items():
        figdir = os.path.join(out, how)
        proc = figures(results, figdir, env=env)
        check(proc.returncode == 1, f"{how}: exit {proc.returncode}, expected 1")
        check("install" in proc.stderr and "gnuplot-nox" in proc.stderr,
              f"{how}: message does not say what to install: {proc.stderr}")
        files = os.listdir(figdir) if os.path.isdir(figdir) else []
        gps = [f for f in files if f.endswith(".gp")]
        check(len(gps) > 5, f"{how}: .gp files not written ({files})")
        for gp in gps:
            check(gp[:-3] + ".dat" in files, f"{how}: {gp[:-3]}.dat not written")
        # index.md means "figures complete" to `strata study`: not written on failure
        check("index.md" not in files, f"{how}: index.md written although nothing rendered")
        check(not any(f.endswith((".png", ".pdf")) for f in files), f"{how}: rendered anyway")
    # A gnuplot that fails, or that exits 0 without writing the file (no cairo terminal).
    with h5py.File(results, "r") as h5:
        renders = 2 * len(expected_figures(h5))  # pdf and png of every figure
    for fake in ("/bin/false", "/bin/true"):
        proc = figures(results, os.path.join(out, os.path.basename(fake)),
                       env=dict(os.environ, STRATA_GNUPLOT=fake))
        check(proc.returncode == 1 and f"gnuplot failed on {renders} of {renders} renders: cka_" in proc.stderr,
              f"{fake} as gnuplot: {proc.stderr}")
    # The scripts left behind render later with a real gnuplot, as the message says.
    gnuplot = shutil.which("gnuplot")
    if gnuplot:
        figdir = os.path.join(out, "PATH")
        subprocess.run([gnuplot, "-e", "fmt='png'", "overlap.gp"], cwd=figdir, check=True)
        check_png(os.path.join(figdir, "overlap.png"), os.path.join(figdir, "overlap.gp"))


def case_missing():
    out = fresh("missing")
    results = make_results(os.path.join(out, "results.h5"), "--no-id")
    with h5py.File(results, "a") as h5:  # take out every alignment and the cross-model CKA
        del h5["llava-hf_llava-tiny/alignment"]
        del h5["cross"]
        for k in ("delta_mean", "delta_interval", "n_paired"):  # NLL without --nll-baseline
            del h5[f"llava-hf_llava-tiny/nll/{k}"]
    figdir = os.path.join(out, "figs")
    proc = figures(results, figdir)
    check(proc.returncode == 0, f"exit {proc.returncode} with metrics missing")
    files = os.listdir(figdir)
    for name in ("intrinsic_dimension", "alignment"):
        check(f"{name}.gp" not in files, f"{name} drawn without data")
    check(not any(f.startswith("cka_cross") for f in files), "cross CKA drawn without data")
    check("overlap.png" in files and "spectrum.png" in files, "present metrics not drawn")
    with open(os.path.join(figdir, "index.md")) as f:
        skipped = f.read().split("## Skipped", 1)[-1]
    for name in ("intrinsic_dimension", "alignment", "cka_cross"):
        check(name in skipped, f"index.md does not list {name} as skipped")
    check("intrinsic_dimension" in proc.stderr, "skip not logged")
    check("change panel is left out" in skipped, "index.md does not list the NLL change as skipped")
    with open(os.path.join(figdir, "nll.dat")) as f:
        nll = f.read()
    check("/nll/mean" in nll and "delta" not in nll and "panel 'change" not in nll,
          "nll.dat: the change panel drawn without data, or the mean left out")
    proc = figures(results, os.path.join(out, "only"), "--only", "intrinsic_dimension")
    check(proc.returncode == 1 and "absent" in proc.stderr,
          f"--only on an absent figure: exit {proc.returncode}: {proc.stderr}")


def case_options():
    out = fresh("options")
    results = make_results(os.path.join(out, "results.h5"))
    figdir = os.path.join(out, "cka")
    proc = figures(results, figdir, "--format", "png", "--only", "cka_cross", "alignment",
                   "--only", "overlap_matrix_cross,norms")
    check(proc.returncode == 0, "--only/--format run failed")
    files = sorted(os.listdir(figdir))
    want = sorted(["cka_cross_llava-hf_llava-tiny__vicuna-tiny_caption", "alignment", "norms",
                   "overlap_matrix_cross_llava-hf_llava-tiny__vicuna-tiny_caption"])
    got = sorted({f.rsplit(".", 1)[0] for f in files} - {"index"})
    check(got == want, f"--only selected {got}, expected {want}")
    check(not any(f.endswith(".pdf") for f in files), "--format png wrote PDFs")
    check(all(f"{n}.png" in files for n in want), "PNGs missing")
    proc = figures(results, os.path.join(out, "x"), "--only", "no_such_figure")
    check(proc.returncode == 1 and "no such figure" in proc.stderr and "overlap" in proc.stderr,
          f"unknown --only: {proc.stderr}")
    proc = figures(results, os.path.join(out, "x"), "--format", "svg")
    check(proc.returncode == 2 and "--format" in proc.stderr, f"bad --format: {proc.stderr}")
    for bad_out in ("", results):
        proc = figures(results, bad_out)
        check(proc.returncode == 1 and ("directory" in proc.stderr), f"--out {bad_out!r}: {proc.stderr}")
    proc = subprocess.run([STRATA, "figures", results], capture_output=True, text=True)
    check(proc.returncode == 2 and "--out" in proc.stderr, "missing --out accepted")
    proc = subprocess.run([STRATA, "figures", "--help"], capture_output=True, text=True)
    check(proc.returncode == 0 and "--only" in proc.stdout, "--help")


def case_bad_input():
    out = fresh("bad_input")
    missing = os.path.join(out, "nope.h5")
    proc = figures(missing, os.path.join(out, "a"))
    check(proc.returncode == 1 and "nope.h5" in proc.stderr, f"missing file: {proc.stderr}")
    archive = os.path.join(out, "archive.h5")
    with h5py.File(archive, "w") as h5:
        h5.attrs["format"] = "strata-activations"
        h5["activations/image"] = np.zeros((2, 3, 4), dtype=np.float32)
    proc = figures(archive, os.path.join(out, "b"))
    check(proc.returncode == 1 and "strata-activations" in proc.stderr and "analyze" in proc.stderr,
          f"archive given: {proc.stderr}")
    text = os.path.join(out, "not.h5")
    with open(text, "w") as f:
        f.write("not hdf5\n")
    proc = figures(text, os.path.join(out, "c"))
    check(proc.returncode == 1 and "not.h5" in proc.stderr, f"text file: {proc.stderr}")
    results = make_results(os.path.join(out, "results.h5"))
    with h5py.File(results, "a") as h5:  # a malformed norms dataset and a bad layers attribute
        del h5["llava-hf_llava-tiny/image/norms"]
        h5["llava-hf_llava-tiny/image/norms"] = np.ones((9, 3))
        h5["llava-hf_llava-tiny/overlap/image__caption"].attrs["layers"] = np.arange(4)
    proc = figures(results, os.path.join(out, "d"))
    check(proc.returncode == 0, f"malformed dataset stopped the run: {proc.stderr}")
    check("/llava-hf_llava-tiny/image/norms has rank 2, expected 1" in proc.stderr,
          f"malformed dataset not named: {proc.stderr}")
    check("/llava-hf_llava-tiny/overlap/image__caption@layers: expected 9" in proc.stderr,
          f"bad layers attribute not named: {proc.stderr}")


def case_demo():
    """Two synthetic archives over the same samples (so cross-model metrics exist), analysed on
    2 ranks with bootstrap intervals: the results as `strata analyze` writes them."""
    out = fresh("demo")
    a, b = os.path.join(out, "a.h5"), os.path.join(out, "b.h5")
    results = os.path.join(out, "results.h5")
    mpirun = [os.environ.get("STRATA_MPIEXEC", "mpirun"), "--allow-run-as-root", "--oversubscribe",
              "-np", "2"]
    common = ["--samples", "200", "--streams", "image,caption", "--overwrite"]
    steps = [
        [STRATA, "mkarchive", "--out", a, "--layers", "5", "--hidden", "32", *common],
        [STRATA, "mkarchive", "--out", b, "--layers", "7", "--hidden", "24", "--seed", "3", *common],
        mpirun + [STRATA, "analyze", a, b, "--out", results, "--bootstrap", "10"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        print("$", " ".join(cmd), "->", proc.returncode)
        if "not built yet" in proc.stderr:
            print(f"skipped: {cmd[cmd.index(STRATA) + 1]} is not built in this version")
            sys.exit(77)
        check(proc.returncode == 0, f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
        if proc.returncode != 0:
            return
    with h5py.File(results, "r") as h5:  # what the demo must show
        check("cross" in h5 and len(h5) == 3, f"results hold {list(h5)}, expected 2 models + cross")
    case_render(results)


def main():
    case = sys.argv[1]
    cases = {"render": case_render, "no_gnuplot": case_no_gnuplot, "missing": case_missing,
             "options": case_options, "bad_input": case_bad_input, "demo": case_demo}
    if case == "render" and len(sys.argv) > 2:
        case_render(sys.argv[2])
    else:
        cases[case]()
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
