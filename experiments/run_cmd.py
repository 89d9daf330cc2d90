"""`h100sim run`: run one scenario for one seed and write its series, agent data, charts and
manifest; or replay a run exactly from its manifest.json.

    h100sim run                                   # baseline, seed 0 -> results/baseline-0/
    h100sim run --scenario no_open_weights --seed 3 --set seizure_odds_multiplier=5
    h100sim run --manifest results/baseline-0/manifest.json --out /tmp/replay
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.api import DEFAULT_SEED
from model.errors import InputError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", metavar="NAME|FILE", default=None,
                        help="a scenario name (see model/scenarios/) or a TOML file "
                             "(default: baseline)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"random seed, an integer >= 0 (default: {DEFAULT_SEED})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a config value (TOML syntax), e.g. "
                             "--set seizure_odds_multiplier=5; repeatable")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output directory (default: results/<scenario>-<seed>/)")
    parser.add_argument("--force", action="store_true",
                        help="replace an output directory that holds a different run (only one h100sim "
                             "wrote: never a symbolic link, the working, home or repository "
                             "directory)")
    parser.add_argument("--manifest", metavar="PATH", default=None,
                        help="replay the run recorded in this manifest.json (same scenario, "
                             "parameters and seed)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no summary; print only the output directory")


def _replay_source(manifest: dict[str, Any]) -> str:
    """The scenario to load a recorded run from: its file if still there, else its name, else
    baseline (every parameter is overridden from the manifest anyway)."""
    from model import list_scenarios

    src = manifest.get("scenario_source")
    name = manifest.get("scenario")
    if isinstance(name, str) and name in list_scenarios():
        return name
    if isinstance(src, str) and Path(src).is_file():
        return src
    return "baseline"


def resolve_run(args: argparse.Namespace) -> dict[str, Any]:
    """Scenario, seed, overrides and resolved config of the run the arguments ask for."""
    from experiments.outputs import check_replayable, identity, read_manifest
    from model import load_scenario
    from model.config import parse_override

    if args.manifest is not None:
        clash = [flag for flag, v in (("--scenario", args.scenario), ("--seed", args.seed),
                                      ("--set", args.overrides or None)) if v is not None]
        if clash:
            raise InputError(f"--manifest replays a recorded run; it cannot be combined with "
                             f"{', '.join(clash)}")
        man = read_manifest(args.manifest)
        name = man["scenario"]
        if (not isinstance(name, str) or not name or name.startswith(".")
                or any(sep in name for sep in ("/", "\\", "\0"))):
            # the name becomes the default output directory results/<name>-<seed>/
            raise InputError(f"{args.manifest}: scenario = {name!r} is not allowed; expected a "
                             "scenario name (no path separators, not starting with '.')")
        check_replayable(man, args.manifest)
        scenario = _replay_source(man)
        overrides = dict(man["params"])
        try:
            cfg = load_scenario(scenario, **overrides)
        except InputError as err:
            raise InputError(f"{args.manifest}: cannot replay this manifest with the current "
                             f"model: {err}") from None
        if identity({"params": cfg.flat()})["params"] != identity(man)["params"]:
            raise InputError(f"{args.manifest}: cannot replay: the current model resolves its "
                             "parameters differently (a config key was added or removed)")
        return {"scenario": scenario, "name": str(man["scenario"]), "seed": int(man["seed"]),
                "overrides": overrides, "config": cfg, "recorded": man,
                "user_overrides": man.get("overrides", {})}
    scenario = args.scenario or "baseline"
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if seed < 0:
        raise InputError(f"--seed {seed} is not allowed; expected an integer >= 0")
    overrides = dict(parse_override(text) for text in args.overrides)
    cfg = load_scenario(scenario, **overrides)
    return {"scenario": scenario, "name": cfg.name, "seed": seed, "overrides": overrides,
            "config": cfg, "recorded": None, "user_overrides": overrides}


def _recorded_series(manifest_path: str) -> pd.DataFrame | None:
    p = Path(manifest_path)
    series = (p if p.is_dir() else p.parent) / "series.parquet"
    try:
        return pd.read_parquet(series) if series.is_file() else None
    except (OSError, ValueError):
        return None


def execute(args: argparse.Namespace) -> int:
    from experiments.outputs import check_out_dir, write_run
    from experiments.summary import summary_lines
    from model import H100Market, release_model

    run = resolve_run(args)
    name, seed = run["name"], run["seed"]
    params = run["config"].flat()
    out = Path(args.out) if args.out else Path("results") / f"{name}-{seed}"
    check_out_dir(out, {"scenario": name, "seed": seed, "params": params}, args.force)
    recorded = _recorded_series(args.manifest) if args.manifest else None

    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    m = H100Market(scenario=run["scenario"], seed=seed, **run["overrides"])
    try:
        m.run_to_end(progress=not args.quiet)
        wall = time.perf_counter() - t0
        finished = dt.datetime.now(dt.timezone.utc)
        info = {"seed": seed, "scenario": name, "params": params,
                "scenario_source": run["config"].source if run["recorded"] is None
                else run["recorded"].get("scenario_source"),
                "overrides": run["user_overrides"], "started": started.isoformat(),
                "finished": finished.isoformat(), "wall_time_s": round(wall, 3)}
        if args.manifest:
            info["replayed_from"] = str(Path(args.manifest).resolve())
        series = m.series()
        paths = write_run(m, out, info, force=args.force)
    finally:
        release_model(m)

    status = 0
    if args.quiet:
        print(out)
    else:
        print(f"\n{name}, seed {seed}: {m.steps} weeks in {wall:.2f} s")
        for line in summary_lines(series):
            print("  " + line)
        charts = sorted(p.name for k, p in paths.items() if k.startswith("chart_"))
        print(f"\nwrote {out}/")
        print(f"  series.parquet, series.csv{', agents.parquet' if 'agents_parquet' in paths else ''},"
              f" manifest.json")
        print(f"  charts/: {', '.join(charts)}")
    if args.manifest:
        if recorded is None:
            print("replay: no recorded series.parquet next to the manifest to compare with")
        else:
            same = _same_series(recorded, series)
            if same:
                print("replay: series identical to the recorded run")
            else:
                print("replay: series DIFFER from the recorded run" + _code_note(run["recorded"]))
            status = 0 if same else 1
    return status


def _same_series(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                      check_exact=True, check_dtype=False)
    except AssertionError:
        return False
    return True


def _code_note(recorded: dict[str, Any]) -> str:
    """Why a replay may differ: the model code is not the one that made the recording."""
    from experiments.outputs import git_state, package_version

    now = git_state()
    then_commit, then_dirty = recorded.get("git_commit"), recorded.get("git_dirty")
    if "params_hash" not in recorded:
        return (" (the manifest carries no params_hash, so an edit of its parameters cannot be "
                "ruled out)")
    if recorded.get("version") != package_version():
        return (f" (recorded with h100sim {recorded.get('version')}, this is "
                f"{package_version()})")
    if then_commit != now["commit"]:
        return f" (recorded at commit {then_commit}, the code is now at {now['commit']})"
    if then_dirty or now["dirty"]:
        return (f" (commit {now['commit']} with uncommitted changes: the model code may have "
                "changed since the recording)")
    return " (same commit and version: the model is not deterministic for a fixed seed)"
