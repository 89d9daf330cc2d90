"""`h100sim bench` (also `make bench`, `python -m experiments.bench`): performance figures.

    h100sim bench                     # full set (about 5-10 minutes on a 2-core VM)
    h100sim bench --quick             # smaller sizes, short horizons: a CI smoke run (< 1 min)
    h100sim bench --json bench.json   # also write every figure as JSON

Measures, and prints as one table together with the machine it ran on:

* wall time of a baseline run (default population, 2022-2026), one core, median of 3;
* throughput in agent-steps per second against Mesa's bundled Boltzmann wealth model
  (``mesa.examples.basic.boltzmann_wealth_model.model.BoltzmannWealth``) with the same number of
  agents, in the same run, and the ratio;
* seconds per step at ~10k and ~100k agents (``population.scale``), and a 100k-agent run over the
  full horizon: wall time and peak memory (skipped by ``--quick``);
* a scaling table in the number of fine-tuning teams (10k to 1M, the rest of the world as in the
  baseline), each over the full horizon: seconds per week, peak memory, agent-steps per second as
  a ratio to Mesa's Boltzmann model at 100k agents in the same run, and the exponent of seconds per
  week in agents fitted over the table; its last row is the 1,000,000-team run;
* spot clearing of 1k, 10k and 100k orders: :func:`model.mechanisms.clearing.clear_uniform` against the
  plain per-order Python implementation beside the tests (``tests/support/reference_clearing.py``,
  loaded by path from a checkout; elsewhere the fast clearing is timed alone), with a check that
  both give the same price, volume and fills;
* the app's step + redraw at default size (:mod:`viz.bench_app`, run as a subprocess);
* peak memory of a 50-run sweep in one worker, with and without ``model.release_model``.

Every model measurement runs in a fresh subprocess pinned to one CPU, with BLAS/OpenMP threads set
to 1, so timings are single-core and peak memory (``ru_maxrss``) belongs to that measurement
alone. A benchmark reports figures; it asserts nothing about speed. A part that fails is reported
as failed and the rest still run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: Sizes of the full and the quick run.
FULL = dict(repeats=3, boltz_steps=None, scale_steps=None, big_full=True, big_steps=None,
            orders=(1_000, 10_000, 100_000), clear_repeats=5, app_steps=10, app_at=(0, 100, 200),
            sweep_runs=50, sweep_weeks=52,
            teams=(10_000, 30_000, 100_000, 300_000, 1_000_000), teams_weeks=None,
            boltz_big=100_000, boltz_big_steps=20)
QUICK = dict(repeats=1, boltz_steps=30, scale_steps=20, big_full=False, big_steps=3,
             orders=(1_000, 10_000), clear_repeats=3, app_steps=3, app_at=(0,),
             sweep_runs=10, sweep_weeks=8,
             teams=(2_000, 20_000), teams_weeks=8, boltz_big=10_000, boltz_big_steps=3)
#: Agent counts of the scale measurements.
SCALE_AGENTS = (10_000, 100_000)


# ------------------------------------------------------------------------------------------------
# Clearing books
# ------------------------------------------------------------------------------------------------
def random_book(n_orders: int, seed: int, ties: bool = True):
    """A random spot book of `n_orders` orders (half bids, half asks) around $2/GPU-hour.

    With ``ties`` prices are whole cents and quantities whole GPUs (many equal prices, exact
    sums); a few orders have zero quantity. Returns (bid_qty, bid_price, ask_qty, ask_price).
    """
    rng = np.random.default_rng(seed)
    nb = n_orders // 2
    na = n_orders - nb
    bp = rng.normal(2.2, 0.6, nb).clip(0.05)
    ap = rng.normal(1.8, 0.6, na).clip(0.05)
    if ties:
        bp, ap = np.round(bp, 2), np.round(ap, 2)
        bq = rng.integers(0, 64, nb).astype(float)
        aq = rng.integers(0, 64, na).astype(float)
    else:
        bq = rng.lognormal(3.0, 1.0, nb)
        aq = rng.lognormal(3.0, 1.0, na)
    return bq, bp, aq, ap


# ------------------------------------------------------------------------------------------------
# Workers: each runs in its own process (see _spawn)
# ------------------------------------------------------------------------------------------------
def _rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scale_for(agents: int) -> float:
    """The ``scale`` that gives about `agents` agents (the named agents do not scale)."""
    from model import load_scenario
    pop = load_scenario("baseline").population
    per_scale = (pop.mid_creators + pop.cn_mid_creators + pop.row_creators + pop.finetuners
                 + pop.brokers)
    fixed = len(pop.creators) + len(pop.clouds) + pop.resellers
    return max(agents - fixed, 1) / per_scale


def w_model_run(scale: float | None = None, steps: int | None = None, progress: bool = False,
                seed: int = 0, finetuners: int | None = None) -> dict[str, Any]:
    """Build and run H100Market (to the end, or `steps` weeks), at a `scale` or with a number of
    fine-tuning teams; time it."""
    from model import H100Market, release_model

    kw: dict[str, Any] = {} if scale is None else {"scale": float(scale)}
    if finetuners is not None:
        kw["finetuners"] = int(finetuners)
    t0 = time.perf_counter()
    m = H100Market(seed=seed, **kw)
    t1 = time.perf_counter()
    n = m.n_steps if steps is None else min(int(steps), m.n_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=n, unit="week", desc=f"{m.population.size():,} agents", leave=False)
    for _ in range(n):
        m.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    t2 = time.perf_counter()
    out = dict(agents=m.population.size(), steps=n, horizon_steps=m.n_steps, build_s=t1 - t0,
               steps_s=t2 - t1, wall_s=t2 - t0, s_per_step=(t2 - t1) / n,
               peak_rss_mb=_maxrss_mb(), scale=kw.get("scale", 1.0),
               teams=len(m.population.finetuners))
    release_model(m)
    return out


def w_boltzmann(n: int, steps: int) -> dict[str, Any]:
    """Mesa's bundled Boltzmann wealth model with `n` agents, one agent per cell on average."""
    from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannWealth

    side = max(10, math.ceil(math.sqrt(n)))
    t0 = time.perf_counter()
    m = BoltzmannWealth(n=n, width=side, height=side, seed=0)
    t1 = time.perf_counter()
    for _ in range(steps):
        m.step()
    t2 = time.perf_counter()
    return dict(agents=len(m.agents), grid=f"{side}x{side}", steps=steps, build_s=t1 - t0,
                steps_s=t2 - t1, wall_s=t2 - t0)


#: the per-order reference clearing, beside the tests (a checkout has it; an install does not)
REFERENCE = ROOT / "tests" / "support" / "reference_clearing.py"


def _reference():
    """The reference clearing module loaded by path, or None outside a checkout."""
    import importlib.util

    if not REFERENCE.is_file():
        return None
    spec = importlib.util.spec_from_file_location("reference_clearing", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def w_clearing(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    from model.mechanisms.clearing import clear_uniform

    ref = _reference()
    out = []
    for n in sizes:
        bq, bp, aq, ap = random_book(n, seed=n)
        tv, tr = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            res = clear_uniform(bq, bp, aq, ap)
            tv.append(time.perf_counter() - t)
        v = statistics.median(tv)
        row = dict(orders=n, vectorised_s=v, reference_s=None, speedup=None, agree=None,
                   price=res.price, volume=res.volume)
        if ref is not None:
            row.update(ref.compare_clearing(bq, bp, aq, ap))
            bids = [ref.Order(float(q), float(p)) for q, p in zip(bq, bp)]
            asks = [ref.Order(float(q), float(p)) for q, p in zip(aq, ap)]
            for _ in range(repeats):
                t = time.perf_counter()
                ref.reference_clear(bids, asks)
                tr.append(time.perf_counter() - t)
            row.update(reference_s=statistics.median(tr), speedup=statistics.median(tr) / v)
        out.append(row)
    return out


def w_app(steps: int, at: list[int]) -> dict[str, Any]:
    """Run viz.bench_app (a subprocess: viz sits above experiments) and read its table."""
    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="False")
    env.setdefault("MPLBACKEND", "Agg")
    proc = subprocess.run([sys.executable, "-m", "viz.bench_app", "--steps", str(steps), "--at",
                           *map(str, at)], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"viz.bench_app exited with code {proc.returncode}: "
                           f"{proc.stderr.strip()[-300:]}")
    rows = []
    pat = re.compile(r"^\s*(\d+)\s+(\d+)\s*/\s*(\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s*$")
    for line in proc.stdout.splitlines():
        mt = pat.match(line)
        if mt:
            week, med, mx, alone, redraw, specs = map(int, mt.groups())
            rows.append(dict(week=week, step_redraw_ms=med, step_redraw_max_ms=mx,
                             model_step_ms=alone, redraw_ms=redraw, specs_ms=specs))
    return dict(clicks=steps, rows=rows, text=proc.stdout)


def w_sweep(runs: int, weeks: int, release: bool) -> dict[str, Any]:
    """`runs` short baseline runs one after another in this process, as a sweep worker does."""
    import gc

    import mesa

    from model import H100Market, release_model

    rss = []
    t0 = time.perf_counter()
    for i in range(runs):
        m = H100Market(seed=i)
        for _ in range(weeks):
            m.step()
        m.series()
        if release:
            release_model(m)
        del m
        gc.collect()
        rss.append(_rss_mb())
    return dict(runs=runs, weeks=weeks, release=release, wall_s=time.perf_counter() - t0,
                rss_mb=rss, peak_rss_mb=_maxrss_mb(), models_retained=len(mesa.Agent._ids))


WORKERS: dict[str, Callable[..., Any]] = {
    "model_run": w_model_run, "boltzmann": w_boltzmann, "clearing": w_clearing,
    "app": w_app, "sweep": w_sweep,
}


def _worker(name: str, kwargs_json: str, out_path: str) -> None:
    """Entry point of a measurement subprocess: one core, one measurement, result to a file."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass
    import warnings
    warnings.simplefilter("ignore")
    try:
        result = WORKERS[name](**json.loads(kwargs_json))
    except Exception as err:  # reported by the parent as a failed part
        Path(out_path).write_text(json.dumps({"__error__": f"{type(err).__name__}: {err}"}))
        print(f"bench worker {name}: {type(err).__name__}: {err}", file=sys.stderr)
        raise SystemExit(1)
    Path(out_path).write_text(json.dumps(result))


def _spawn(name: str, timeout: float | None = None, **kwargs) -> Any:
    """Run WORKERS[name](**kwargs) in a fresh single-core Python process; return its result."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    with tempfile.TemporaryDirectory(prefix="h100bench-") as tmp:
        out = Path(tmp) / "result.json"
        code = ("import sys; from experiments.bench import _worker; "
                "_worker(sys.argv[1], sys.argv[2], sys.argv[3])")
        # stderr is the terminal's: the worker's progress bars show there.
        proc = subprocess.run([sys.executable, "-c", code, name, json.dumps(kwargs), str(out)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, timeout=timeout)
        result = json.loads(out.read_text()) if out.exists() else None
        if proc.returncode != 0 or result is None:
            msg = result.get("__error__") if isinstance(result, dict) else None
            raise RuntimeError(msg or f"worker exited with code {proc.returncode}")
        return result


# ------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import mesa

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        usable = os.cpu_count()
    return dict(cpu=cpu, cores=os.cpu_count(), usable_cores=usable, cores_used=1,
                python=platform.python_version(), numpy=np.__version__, mesa=mesa.__version__,
                platform=platform.platform(), load_avg_1min=round(os.getloadavg()[0], 2),
                when=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def run_bench(quick: bool = False, progress: bool = True) -> dict[str, Any]:
    from tqdm.auto import tqdm

    size = QUICK if quick else FULL
    res: dict[str, Any] = dict(quick=quick, machine=machine(), errors={})
    parts = ["baseline", "boltzmann", "scale", "teams", "clearing", "app", "sweep_memory"]
    bar = tqdm(parts, desc="bench", unit="part", disable=not progress)

    def part(key: str, fn: Callable[[], Any]) -> None:
        bar.set_postfix_str(key)
        try:
            res[key] = fn()
        except Exception as err:  # a failed part is reported, the rest still run
            res[key] = None
            res["errors"][key] = f"{type(err).__name__}: {err}"
        bar.update(1)

    # The baseline and Boltzmann's model run in turns (h100sim, Boltzmann, h100sim, ...) and the
    # ratio is the median of each pair's ratio: a machine whose speed drifts (other tenants, clock)
    # slows both runs of a pair alike, where two blocks of runs would each catch a different load.
    pairs: list[tuple[dict, dict]] = []

    def baseline():
        for _ in range(size["repeats"]):
            r = _spawn("model_run")
            bz = _spawn("boltzmann", n=r["agents"], steps=size["boltz_steps"] or r["steps"])
            pairs.append((r, bz))
        runs = [r for r, _ in pairs]
        walls = [r["wall_s"] for r in runs]
        r0 = runs[0]
        return dict(agents=r0["agents"], steps=r0["steps"], repeats=len(runs), wall_s=walls,
                    median_wall_s=statistics.median(walls),
                    median_steps_s=statistics.median(r["steps_s"] for r in runs),
                    peak_rss_mb=max(r["peak_rss_mb"] for r in runs))

    part("baseline", baseline)

    def boltzmann():
        if not pairs:
            raise RuntimeError("needs the baseline run")
        return paired_ratio(pairs)

    part("boltzmann", boltzmann)

    def scale():
        out = []
        for target in SCALE_AGENTS:
            sc = _scale_for(target)
            big = target >= 100_000
            if big and size["big_full"]:
                r = _spawn("model_run", scale=sc, progress=progress)  # the full horizon
                r["full_horizon"] = True
            else:
                steps = size["big_steps"] if big else size["scale_steps"]
                r = _spawn("model_run", scale=sc, steps=steps, progress=progress)
                r["full_horizon"] = steps is None
            r["target_agents"] = target
            out.append(r)
        return out

    part("scale", scale)

    def teams():
        n_bz, steps = size["boltz_big"], size["boltz_big_steps"]
        bz = [_spawn("boltzmann", n=n_bz, steps=steps) for _ in range(size["repeats"])]
        bz_tp = n_bz * steps / statistics.median(r["steps_s"] for r in bz)
        rows = []
        for n in size["teams"]:
            r = _spawn("model_run", finetuners=n, steps=size["teams_weeks"], progress=progress)
            r["full_horizon"] = size["teams_weeks"] is None
            r["agent_steps_per_s"] = r["agents"] * r["steps"] / r["steps_s"]
            r["ratio_to_boltzmann"] = r["agent_steps_per_s"] / bz_tp
            rows.append(r)
        return dict(boltzmann=dict(agents=n_bz, steps=steps, repeats=len(bz),
                                   agent_steps_per_s=bz_tp),
                    rows=rows, exponent=fit_exponent([r["agents"] for r in rows],
                                                     [r["s_per_step"] for r in rows]))

    part("teams", teams)
    part("clearing", lambda: _spawn("clearing", sizes=list(size["orders"]),
                                    repeats=size["clear_repeats"]))
    part("app", lambda: _spawn("app", steps=size["app_steps"], at=list(size["app_at"])))

    kw = dict(runs=size["sweep_runs"], weeks=size["sweep_weeks"])
    part("sweep_memory", lambda: dict(with_release=_spawn("sweep", release=True, **kw),
                                      without_release=_spawn("sweep", release=False, **kw)))
    bar.close()
    res["machine"]["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    return res


def throughput(run: dict[str, Any]) -> float:
    """Agent-steps per second of one timed run (build excluded)."""
    return run["agents"] * run["steps"] / run["steps_s"]


def paired_ratio(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """h100sim against Boltzmann's model from runs made in turns: each pair's ratio of
    agent-steps per second, and their median (the figure the bench reports)."""
    ratios = [throughput(h) / throughput(b) for h, b in pairs]
    bz = pairs[0][1]
    return dict(agents=bz["agents"], grid=bz["grid"], steps=bz["steps"], repeats=len(pairs),
                steps_s=statistics.median(b["steps_s"] for _, b in pairs),
                agent_steps_per_s=statistics.median(throughput(b) for _, b in pairs),
                h100_agent_steps_per_s=statistics.median(throughput(h) for h, _ in pairs),
                pair_ratios=ratios, ratio=statistics.median(ratios))


def fit_exponent(agents: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds per week) on log(agents): cost grows as agents^slope."""
    if len(agents) < 2:
        return float("nan")
    return float(np.polyfit(np.log(agents), np.log(seconds), 1)[0])


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------
def _fmt_s(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def table_rows(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, figure, note) rows of the one table."""
    rows: list[tuple[str, str, str]] = []
    m = res["machine"]
    rows += [("machine: CPU", m["cpu"], m["platform"]),
             ("machine: cores", f"{m['cores']} ({m['usable_cores']} usable)",
              "every measurement pinned to 1 core, BLAS threads = 1"),
             ("machine: versions", f"Python {m['python']}, numpy {m['numpy']}, mesa {m['mesa']}",
              m["when"] + (", --quick" if res["quick"] else "")),
             ("machine: load average", f"{m['load_avg_1min']:.2f} -> {m.get('load_avg_1min_end', float('nan')):.2f}",
              "1-min load at start -> end; other work on the machine inflates timings")]
    err = res["errors"]

    def failed(key, label):
        if res.get(key) is None:
            rows.append((label, "FAILED", err.get(key, "")[:90]))
            return True
        return False

    if not failed("baseline", "baseline run"):
        b = res["baseline"]
        rows.append(("baseline run, wall time", _fmt_s(b["median_wall_s"]),
                     f"median of {b['repeats']} ({', '.join(f'{w:.2f}' for w in b['wall_s'])} s); "
                     f"{b['agents']:,} agents, {b['steps']} weeks, build + run"))
        rows.append(("baseline run, peak memory", f"{b['peak_rss_mb']:.0f} MB", "max RSS of the process"))
    if not failed("boltzmann", "vs Mesa BoltzmannWealth"):
        z = res["boltzmann"]
        rows.append(("h100sim throughput", f"{z['h100_agent_steps_per_s']:,.0f} agent-steps/s",
                     "baseline run's steps (build excluded), median of the runs above"))
        rows.append(("BoltzmannWealth throughput", f"{z['agent_steps_per_s']:,.0f} agent-steps/s",
                     f"{z['agents']:,} agents, {z['grid']} grid, {z['steps']} steps, "
                     f"median of {z.get('repeats', 1)}"))
        each = ", ".join(f"{r:.2f}" for r in z.get("pair_ratios", []))
        rows.append(("ratio h100sim / Boltzmann", f"{z['ratio']:.2f}x",
                     "same agents, run in turns; median of the pairs" + (f" ({each})" if each else "")))
    if not failed("scale", "scale runs"):
        for r in res["scale"]:
            horizon = "full horizon" if r["full_horizon"] else f"first {r['steps']} weeks"
            rows.append((f"{r['agents']:,} agents, per step", _fmt_s(r["s_per_step"]),
                         f"mean over {horizon}; scale={r['scale']:.3f}"))
            if r["full_horizon"] and r["target_agents"] >= 100_000:
                rows.append((f"{r['agents']:,} agents, full horizon", _fmt_s(r["wall_s"]),
                             f"{r['steps']} weeks, build {r['build_s']:.1f} s"))
            rows.append((f"{r['agents']:,} agents, peak memory", f"{r['peak_rss_mb']:.0f} MB",
                         "max RSS of the process"))
        if res["quick"]:
            rows.append(("100k agents, full horizon", "skipped", "--quick"))
    if not failed("teams", "fine-tuning teams scaling"):
        t = res["teams"]
        bz = t["boltzmann"]
        rows.append((f"BoltzmannWealth at {bz['agents']:,} agents",
                     f"{bz['agent_steps_per_s']:,.0f} agent-steps/s",
                     f"{bz['steps']} steps, median of {bz['repeats']}; the reference of the rows below"))
        for r in t["rows"]:
            horizon = "full horizon" if r["full_horizon"] else f"first {r['steps']} weeks"
            rows.append((f"{r['teams']:,} teams ({r['agents']:,} agents), per week",
                         _fmt_s(r["s_per_step"]),
                         f"{horizon}; peak {r['peak_rss_mb']:.0f} MB; "
                         f"{r['ratio_to_boltzmann']:.1f}x Boltzmann's agent-steps/s"))
        big = t["rows"][-1]
        if big["teams"] >= 1_000_000 and big["full_horizon"]:
            rows.append((f"{big['teams']:,} teams, full horizon", _fmt_s(big["wall_s"]),
                         f"{big['steps']} weeks, build {big['build_s']:.1f} s, peak "
                         f"{big['peak_rss_mb']:.0f} MB, {big['ratio_to_boltzmann']:.1f}x Boltzmann "
                         f"at {bz['agents']:,} agents"))
        first, last = t["rows"][0]["agents"], t["rows"][-1]["agents"]
        rows.append((f"cost per week ~ agents^k, {first:,} to {last:,}", f"k = {t['exponent']:.2f}",
                     "least-squares fit of log(seconds per week) on log(agents), rows above"))
    if not failed("clearing", "spot clearing"):
        for c in res["clearing"]:
            rows.append((f"clearing {c['orders']:,} orders: vectorised",
                         _fmt_s(c["vectorised_s"]), f"price {c['price']:.4f}, volume {c['volume']:,.0f}"))
            if c["reference_s"] is None:
                rows.append((f"clearing {c['orders']:,} orders: per-order Python", "not run",
                             f"needs {REFERENCE.relative_to(ROOT)} (a checkout)"))
                continue
            same = "same price/volume/fills" if c["agree"] else "DISAGREE"
            rows.append((f"clearing {c['orders']:,} orders: per-order Python",
                         _fmt_s(c["reference_s"]), same))
            rows.append((f"clearing {c['orders']:,} orders: speed-up",
                         f"{c['speedup']:.1f}x", "reference / clear_uniform"))
    if not failed("app", "app step + redraw"):
        a = res["app"]
        for r in a["rows"]:
            rows.append((f"app step+redraw, week {r['week']}", f"{r['step_redraw_ms']} ms",
                         f"median of {a['clicks']}; model step {r['model_step_ms']} ms, "
                         f"redraw {r['redraw_ms']} ms"))
    if not failed("sweep_memory", "sweep memory"):
        s = res["sweep_memory"]
        for key, label in (("with_release", "with release_model"),
                           ("without_release", "without release_model")):
            w = s[key]
            k = len(w["rss_mb"])
            half = w["rss_mb"][k // 2 - 1] if k > 1 else w["rss_mb"][0]
            rows.append((f"{w['runs']}-run sweep, {label}", f"{w['peak_rss_mb']:.0f} MB peak",
                         f"RSS after run 1 / {max(k // 2, 1)} / {k}: {w['rss_mb'][0]:.0f} / "
                         f"{half:.0f} / {w['rss_mb'][-1]:.0f} MB; {w['models_retained']} models "
                         f"retained; {w['weeks']} weeks each"))
    return rows


def format_table(res: dict[str, Any]) -> str:
    rows = table_rows(res)
    heads = ("measure", "figure", "note")
    w0 = max(len(heads[0]), *(len(r[0]) for r in rows))
    w1 = max(len(heads[1]), *(len(r[1]) for r in rows))
    lines = [f"{heads[0]:<{w0}}  {heads[1]:>{w1}}  {heads[2]}", f"{'-' * w0}  {'-' * w1}  {'-' * 40}"]
    lines += [f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and short horizons (CI smoke run, under a minute); "
                             "skips the 100k-agent full-horizon run")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write every figure to this JSON file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def execute(args: argparse.Namespace) -> int:
    res = run_bench(quick=args.quick, progress=not args.no_progress)
    print(format_table(res))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2, default=str))
        print(f"figures written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench",
                                     description=__doc__.split("\n\n")[0])
    configure(parser)
    return execute(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
