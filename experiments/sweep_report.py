"""`h100sim sweep-report DIR`: charts and sensitivity tables of a finished (or partial) sweep.

Writes into ``DIR/report/`` (or ``--out``):

``runs.csv``                    the runs table (:func:`experiments.load_results`)
``bands_<param>.png``           for each swept parameter, the median and 10-90% band over the
                                runs of each of its values, for every kept series
``summary_<param>.png``         for each swept parameter, every summary metric's median and
                                10-90% range at each of its values
``sensitivity.csv`` / ``.md``   sobol and morris designs: the indices of every summary metric
``sensitivity_<metric>.png``    the same as a bar chart (S1 and ST, or mu* and sigma)
``report.md``                   an index of the above

A parameter with more than ``--max-levels`` distinct values (a random, lhs, sobol or morris
design) is split into ``--bins`` quantile bins. For the indices, each design point's output is
the mean over its replications; design blocks with a failed or missing run are left out (the
tables say how many).
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from model.errors import InputError

BAND = (0.10, 0.90)
MAX_PANELS = 12


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or "x"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.4g}"
    return str(v)


def markdown_table(df) -> str:
    """A pandas DataFrame as a GitHub Markdown table (no extra dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |",
             "| " + " | ".join("---" for _ in cols) + " |"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def parameter_groups(values, max_levels: int = 8, bins: int = 3):
    """Group labels for a parameter column: its values when few, else quantile bins.

    Returns ``(labels Series, ordered list of labels)``.
    """
    import numpy as np
    import pandas as pd

    distinct = pd.unique(values)
    if len(distinct) <= max_levels:
        try:
            order = sorted(distinct)
        except TypeError:
            order = list(distinct)
        return values.map(_fmt), [_fmt(v) for v in order]
    numeric = pd.to_numeric(values, errors="coerce")
    edges = np.unique(np.nanquantile(numeric, np.linspace(0, 1, bins + 1)))
    cats = pd.cut(numeric, edges, include_lowest=True, duplicates="drop")
    labels = [f"{iv.left:.3g}..{iv.right:.3g}" for iv in cats.cat.categories]
    mapping = dict(zip(cats.cat.categories, labels))
    return pd.Series([mapping.get(c, "n/a") for c in cats], index=values.index), labels


def _pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(n: int, width: float, **kw):
    """A figure of ``n`` panels, three to a row (the spare axes hidden): ``(fig, axes)``."""
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    fig, axes = _pyplot().subplots(nrow, ncol, figsize=(width * ncol, 3.2 * nrow), squeeze=False,
                                   **kw)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def sensitivity_tables(directory: str | Path) -> tuple[Any, dict[str, dict[str, int]]]:
    """Sobol or Morris indices of every summary metric of a sweep directory.

    Returns ``(table, notes)``: a long DataFrame (``metric``, ``parameter`` and the method's
    columns) and, per metric, the number of design blocks used and left out.
    """
    import numpy as np
    import pandas as pd

    from experiments.designs import SA_DESIGNS, sensitivity
    from experiments.sweep import load_results, read_manifest

    out = Path(directory)
    manifest = read_manifest(out)
    design = manifest["design"]
    if design["kind"] not in SA_DESIGNS:
        raise InputError(f"{out}: design {design['kind']!r} has no sensitivity indices (only "
                         f"{', '.join(SA_DESIGNS)})")
    runs = load_results(out)
    unit = np.asarray(design["unit"], dtype=float)
    n_points = len(unit)
    seed = int(manifest["spec"]["sweep"]["seed"])
    tables = []
    notes = {}
    for m in manifest["spec"]["metrics"]["summary"]:
        name = m["name"]
        col = runs[name]
        if m["stat"] in ("date_of_max", "date_of_min"):
            col = (pd.to_datetime(col) - pd.Timestamp("1970-01-01")).dt.days.astype(float)
        y = np.full(n_points, np.nan)
        means = pd.Series(col.to_numpy(dtype=float)).groupby(runs["sample"].to_numpy()).mean()
        for sample, value in means.items():
            y[int(sample)] = value
        try:
            table, note = sensitivity(design["info"], unit, y, seed=seed)
        except ValueError as err:
            notes[name] = {"used": 0, "dropped": -1, "error": str(err)}
            continue
        table.insert(0, "metric", name)
        tables.append(table)
        notes[name] = note
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, notes


def param_label(name: str) -> str:
    """A swept parameter with its unit, e.g. ``packaging_multiplier (×)``."""
    from experiments.catalogue import lever_info

    try:
        unit = lever_info(name).unit
    except InputError:
        return name
    return f"{name} ({unit})" if unit else name


def metric_label(m: dict[str, Any]) -> str:
    """A summary metric of a spec in words, e.g. ``peak_spot_price: peak spot price,
    2023-01-01..2023-12-31 (USD/GPU-h)``."""
    from experiments.catalogue import stat_label

    return f"{m['name']}: {stat_label(m['metric'], m['stat'], tuple(m['window']))}"


def _plot_bands(series, runs, param: str, names: list[str], out: Path, max_levels: int,
                bins: int, title: str = "") -> list[Path]:
    from experiments.catalogue import SERIES_INFO

    groups, order = parameter_groups(runs[param], max_levels, bins)
    label_of = dict(zip(runs["run_id"], groups))
    series = series.assign(_group=series["run_id"].map(label_of))
    files = []
    cmap = _pyplot().get_cmap("viridis")
    for part in range(0, len(names), MAX_PANELS):
        chunk = names[part:part + MAX_PANELS]
        fig, axes = _panels(len(chunk), 5, sharex=True)
        for ax, s in zip(axes.flat, chunk):
            for k, label in enumerate(order):
                sub = series[series["_group"] == label]
                if sub.empty:
                    continue
                q = sub.groupby("date")[s].quantile([BAND[0], 0.5, BAND[1]]).unstack()
                color = cmap(k / max(len(order) - 1, 1))
                n_runs = sub["run_id"].nunique()
                ax.fill_between(q.index, q[BAND[0]], q[BAND[1]], color=color, alpha=0.18,
                                linewidth=0)
                ax.plot(q.index, q[0.5], color=color, linewidth=1.6,
                        label=f"{label} ({n_runs} runs)")
            info = SERIES_INFO.get(s)
            ax.set_title(f"{info.label} ({info.unit})" if info else s, fontsize=10)
            ax.grid(alpha=0.3)
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        axes.flat[0].legend(title=param_label(param), fontsize=8, title_fontsize=8)
        fig.suptitle(f"{title}median and {int(BAND[0] * 100)}-{int(BAND[1] * 100)}% band by "
                     f"{param_label(param)}")
        suffix = "" if part == 0 else f"_{part // MAX_PANELS + 1}"
        files.append(_save(fig, out / f"bands_{_safe(param)}{suffix}.png"))
    return files


def _plot_summary(runs, param: str, metrics: list[str], out: Path, max_levels: int,
                  bins: int, labels: dict[str, str] | None = None, title: str = "") -> Path:
    import pandas as pd

    groups, order = parameter_groups(runs[param], max_levels, bins)
    fig, axes = _panels(len(metrics), 4.6)
    x = list(range(len(order)))
    for ax, m in zip(axes.flat, metrics):
        col = runs[m]
        is_date = pd.api.types.is_datetime64_any_dtype(col)
        values = col.map(lambda t: t.toordinal() if pd.notna(t) else float("nan")) if is_date \
            else col.astype(float)
        per_group = [values[groups == label].dropna() for label in order]
        med = [v.median() if len(v) else float("nan") for v in per_group]
        lo, hi = ([v.quantile(q) if len(v) else float("nan") for v in per_group] for q in BAND)
        yerr = [[max(a - b, 0) for a, b in zip(med, lo)], [max(b - a, 0) for a, b in zip(med, hi)]]
        ax.errorbar(x, med, yerr=yerr, fmt="o-", capsize=4, color="#1f5f8b")
        ax.set_xticks(x)
        ax.set_xticklabels(order, rotation=30, fontsize=8)
        ax.set_title((labels or {}).get(m, m) + (" (date)" if is_date else ""), fontsize=9)
        ax.set_xlabel(param_label(param), fontsize=8)
        ax.grid(alpha=0.3)
        if is_date:  # ordinal days on the axis, labelled as dates
            import datetime as dt

            from matplotlib.ticker import FuncFormatter, MaxNLocator

            finite = [v for v in lo + hi if not math.isnan(v)]
            if finite:
                ax.set_ylim(min(finite) - 14, max(finite) + 14)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
            ax.yaxis.set_major_formatter(FuncFormatter(
                lambda t, _pos: dt.date.fromordinal(int(t)).isoformat() if t >= 1 else ""))
            ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"{title}summary metrics by {param_label(param)}: median and "
                 f"{int(BAND[0] * 100)}-{int(BAND[1] * 100)}% of runs")
    return _save(fig, out / f"summary_{_safe(param)}.png")


def _plot_indices(table, method: str, metric: str, out: Path, label: str = "",
                  title: str = "") -> Path:
    import numpy as np

    sub = table[table["metric"] == metric]
    names = list(sub["parameter"])
    x = np.arange(len(names))
    fig, ax = _pyplot().subplots(figsize=(max(5.0, 1.1 * len(names) + 2), 3.6))
    w = 0.38
    if method == "sobol":
        ax.bar(x - w / 2, sub["S1"], w, yerr=sub["S1_conf"], capsize=3, label="S1 (first order)",
               color="#1f77b4")
        ax.bar(x + w / 2, sub["ST"], w, yerr=sub["ST_conf"], capsize=3, label="ST (total)",
               color="#ff7f0e")
        ax.set_ylabel("Sobol index")
        ax.axhline(0, color="black", linewidth=0.6)
    else:
        ax.bar(x - w / 2, sub["mu_star"], w, yerr=sub["mu_star_conf"], capsize=3,
               label="mu* (mean |effect|)", color="#1f77b4")
        ax.bar(x + w / 2, sub["sigma"], w, label="sigma (interactions)", color="#ff7f0e")
        ax.set_ylabel("elementary effect per unit range")
    ax.set_xticks(x)
    ax.set_xticklabels([param_label(n) for n in names], rotation=20, fontsize=8, ha="right")
    ax.set_title(f"{title}{method} sensitivity of {label or metric}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out / f"sensitivity_{_safe(metric)}.png")


def make_report(directory: str | Path, out: str | Path | None = None, *, max_levels: int = 8,
                bins: int = 3) -> dict[str, Any]:
    """Write the report of a sweep directory; returns ``{"files": [...], "sensitivity": df}``."""
    from experiments.designs import SA_DESIGNS
    from experiments.sweep import load_results, read_manifest

    src = Path(directory)
    manifest = read_manifest(src)
    dest = Path(out) if out is not None else src / "report"
    dest.mkdir(parents=True, exist_ok=True)
    spec = manifest["spec"]
    params = list(spec["parameters"])
    summary = [m["name"] for m in spec["metrics"]["summary"]]
    labels = {m["name"]: metric_label(m) for m in spec["metrics"]["summary"]}
    title = (f"sweep {spec['sweep']['name']} ({spec['sweep']['base']}, "
             f"{spec['sweep']['replications']} seeds per point)\n")
    runs = load_results(src, include_failed=True)
    ok = runs[runs["status"] == "ok"].reset_index(drop=True)
    if ok.empty:
        raise InputError(f"{src}: no finished run yet; nothing to report")
    files: list[Path] = [dest / "runs.csv"]
    runs.to_csv(files[0], index=False)
    series_names: list[str] = []
    if spec["metrics"]["series"]:
        series = load_results(src, "series")
        series_names = [c for c in series.columns
                        if c not in {"run_id", "sample", "replicate", "seed", "step", "date",
                                     *params}]
    for p in params:
        if series_names:
            files += _plot_bands(series, ok, p, series_names, dest, max_levels, bins, title)
        if summary:
            files.append(_plot_summary(ok, p, summary, dest, max_levels, bins, labels, title))
    sens = None
    notes: dict[str, Any] = {}
    method = manifest["design"]["kind"]
    if method in SA_DESIGNS and summary:
        sens, notes = sensitivity_tables(src)
        if not sens.empty:
            path = dest / "sensitivity.csv"
            sens.to_csv(path, index=False)
            files.append(path)
            for metric in sens["metric"].unique():
                files.append(_plot_indices(sens, method, metric, dest, labels.get(metric, ""),
                                           title))
        md = [f"# Sensitivity indices ({method})", ""]
        for metric, note in notes.items():
            md += [f"## {metric}", ""]
            if note.get("error"):
                md.append(f"Not computed: {note['error']}")
            else:
                what = "base samples" if method == "sobol" else "trajectories"
                md += [f"{note['used']} {what} used, {note['dropped']} left out (a run failed or "
                       "is missing).", "",
                       markdown_table(sens[sens["metric"] == metric].drop(columns="metric"))]
            md.append("")
        path = dest / "sensitivity.md"
        path.write_text("\n".join(md))
        files.append(path)
    n_failed = int((runs["status"] == "failed").sum())
    index = [f"# Sweep report: {manifest['name']}", "",
             f"- design: {method}, {manifest['design']['points']} points x "
             f"{spec['sweep']['replications']} replications = {len(manifest['runs'])} runs",
             f"- finished: {len(ok)}; failed: {n_failed}; missing: "
             f"{len(manifest['runs']) - len(ok) - n_failed}",
             f"- model version {manifest['model_version']}, base scenario "
             f"{spec['sweep']['base']!r}, master seed {spec['sweep']['seed']}", "",
             "## Files", ""]
    index += [f"- [{f.name}]({f.name})" for f in files]
    if sens is not None and not sens.empty:
        index += ["", (dest / "sensitivity.md").read_text()]
    (dest / "report.md").write_text("\n".join(index) + "\n")
    files.append(dest / "report.md")
    return {"files": files, "sensitivity": sens, "notes": notes, "out": dest}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="a sweep directory (h100sim sweep --out)")
    parser.add_argument("--out", metavar="REPORT_DIR", help="where to write (default DIR/report)")
    parser.add_argument("--bins", type=int, default=3,
                        help="quantile bins for a parameter with many values (default 3)")
    parser.add_argument("--max-levels", type=int, default=8,
                        help="a parameter with at most this many values gets one band per value")


def execute(args: argparse.Namespace) -> int:
    if args.bins < 1 or args.max_levels < 1:
        raise InputError("--bins and --max-levels must be >= 1")
    res = make_report(args.directory, args.out, max_levels=args.max_levels, bins=args.bins)
    sens = res["sensitivity"]
    if sens is not None and not sens.empty:
        for metric in sens["metric"].unique():
            print(f"\n{metric}:")
            print(markdown_table(sens[sens["metric"] == metric].drop(columns="metric")))
    print(f"\nwrote {len(res['files'])} files to {res['out']}:")
    for f in res["files"]:
        print(f"  {f}")
    return 0
