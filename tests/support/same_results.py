"""Same results to the last bit: compare this checkout's runs with another commit's.

A refactor must not move a single number. This script runs every scenario in ``model/scenarios``
for seeds 0-4 at two commits (the work tree, and a git ref checked out into a temporary worktree),
each in its own process with that commit's code first on ``sys.path``, and compares ``series()``,
``agent_frame()`` and the trade log exactly (same values, same NaNs, same dtypes).

    .venv/bin/python -m tests.support.same_results --against HEAD~1
    .venv/bin/python -m tests.support.same_results --against main --scenarios baseline --seeds 0 1
    .venv/bin/python -m tests.support.same_results --against main --cache ~/.cache/h100sim-same

With ``--cache DIR`` the reference commit's outputs are kept in ``DIR/<commit sha>`` and reused
the next time (a commit's outputs never change), so checking a series of edits against one commit
runs the reference once.

Exit 0 when everything is identical, 1 when something differs (the first differences are shown),
2 on bad input.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: what is compared: the model series, the agent frame, the trade log
PARTS = ("series", "agents", "trades")

#: Runs one checkout's outputs into a folder of Parquet files (executed in a child process).
DUMP = r"""
import sys
from pathlib import Path
import pandas as pd
from model import H100Market, list_scenarios, release_model
out = Path(sys.argv[1]); scenarios = sys.argv[2].split(","); seeds = [int(s) for s in sys.argv[3].split(",")]
for sc in scenarios:
    for seed in seeds:
        m = H100Market(scenario=sc, seed=seed)
        m.run_to_end()
        m.series().to_parquet(out / f"{sc}-{seed}-series.parquet")
        m.agent_frame().to_parquet(out / f"{sc}-{seed}-agents.parquet")
        log = pd.DataFrame(list(m.trade_log), columns=["step", "seller", "buyer", "kind", "market", "volume"])
        log["seller"] = log["seller"].astype(str); log["buyer"] = log["buyer"].astype(str)
        log.to_parquet(out / f"{sc}-{seed}-trades.parquet")
        release_model(m)
        print(sc, seed, flush=True)
"""


def scenarios_in(tree: Path) -> list[str]:
    return sorted(p.stem for p in (tree / "model" / "scenarios").glob("*.toml"))


def dump(tree: Path, out: Path, scenarios: list[str], seeds: list[int]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    subprocess.run([sys.executable, "-c", DUMP, str(out), ",".join(scenarios), ",".join(map(str, seeds))],
                   cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)


def compare(a: Path, b: Path, parts: tuple[str, ...] = PARTS, names: list[str] | None = None) -> list[str]:
    """Differences between two folders of outputs (only `names` of `a` when given: a cached
    reference folder may hold more scenarios and seeds than this check ran)."""
    import pandas as pd
    from pandas.testing import assert_frame_equal

    problems = []
    files = sorted(a.glob("*.parquet")) if names is None else [a / n for n in sorted(names)]
    for fa in (f for f in files if f.stem.rsplit("-", 1)[1] in parts):
        fb = b / fa.name
        if not fb.exists():
            problems.append(f"{fa.name}: missing in the other checkout")
            continue
        try:
            assert_frame_equal(pd.read_parquet(fa), pd.read_parquet(fb), check_exact=True)
        except AssertionError as err:
            problems.append(f"{fa.name}: {str(err).splitlines()[0:6]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="git ref to compare the work tree with")
    ap.add_argument("--scenarios", nargs="*", help="default: every scenario in model/scenarios")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--parts", nargs="*", choices=PARTS, default=list(PARTS),
                    help="what to compare (a change that only adds or reformats series still "
                         "keeps the agents and trades identical)")
    ap.add_argument("--cache", type=Path, help="keep and reuse the reference commit's outputs in "
                                                "this folder (one subfolder per commit)")
    args = ap.parse_args(argv)
    scenarios = args.scenarios or scenarios_in(ROOT)
    rev = ["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", f"{args.against}^{{commit}}"]
    sha = subprocess.run(rev, capture_output=True, text=True).stdout.strip()
    if not sha:
        print(f"same_results: {args.against!r} is not a commit of this repository", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="same-results-") as tmp:
        tmp = Path(tmp)
        before = tmp / "before" if args.cache is None else args.cache.expanduser() / sha
        wanted = [f"{sc}-{seed}-{part}.parquet" for sc in scenarios for seed in args.seeds for part in PARTS]
        if all((before / f).exists() for f in wanted):
            print(f"reusing {args.against} ({sha[:9]}) outputs from {before}")
        else:
            ref = tmp / "ref"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(ref), sha],
                           check=True, capture_output=True, text=True)
            try:
                print(f"running {len(scenarios)} scenarios x {len(args.seeds)} seeds at {args.against} ...")
                dump(ref, before, scenarios, args.seeds)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref)],
                               check=False, capture_output=True)
        print("running the work tree ...")
        dump(ROOT, tmp / "after", scenarios, args.seeds)
        problems = compare(before, tmp / "after", tuple(args.parts), wanted)
        n = sum(1 for f in wanted if f.rsplit("-", 1)[1].split(".")[0] in args.parts)
    if problems:
        print(f"DIFFERENT: {len(problems)} of {n} outputs differ")
        for p in problems[:20]:
            print("  " + p)
        return 1
    print(f"identical: {n} outputs ({len(scenarios)} scenarios x {len(args.seeds)} seeds: "
          f"{', '.join(args.parts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
