"""Same results to the last bit: compare this checkout's runs with another commit's.

A refactor must not move a single number. This script runs every scenario in ``model/scenarios``
for seeds 0-4 at two commits (the work tree, and a git ref checked out into a temporary worktree),
each in its own process with that commit's code first on ``sys.path``, and compares ``series()``,
``agent_frame()`` and the trade log exactly (same values, same NaNs, same dtypes).

    .venv/bin/python -m tests.support.same_results --against HEAD~1
    .venv/bin/python -m tests.support.same_results --against main --scenarios baseline --seeds 0 1

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


def compare(a: Path, b: Path, parts: tuple[str, ...] = PARTS) -> list[str]:
    import pandas as pd
    from pandas.testing import assert_frame_equal

    problems = []
    for fa in sorted(f for f in a.glob("*.parquet") if f.stem.rsplit("-", 1)[1] in parts):
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
    args = ap.parse_args(argv)
    scenarios = args.scenarios or scenarios_in(ROOT)
    with tempfile.TemporaryDirectory(prefix="same-results-") as tmp:
        tmp = Path(tmp)
        ref = tmp / "ref"
        try:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(ref),
                            args.against], check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as err:
            print(f"same_results: cannot check out {args.against!r}: {err.stderr.strip()}", file=sys.stderr)
            return 2
        try:
            print(f"running {len(scenarios)} scenarios x {len(args.seeds)} seeds at {args.against} ...")
            dump(ref, tmp / "before", scenarios, args.seeds)
            print("running the work tree ...")
            dump(ROOT, tmp / "after", scenarios, args.seeds)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref)],
                           check=False, capture_output=True)
        problems = compare(tmp / "before", tmp / "after", tuple(args.parts))
        n = sum(1 for f in (tmp / "before").glob("*.parquet") if f.stem.rsplit("-", 1)[1] in args.parts)
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
