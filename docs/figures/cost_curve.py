"""The fleet's cost curve against the prices the market produced (docs/ODD.md, "Owners who must pay").

    .venv/bin/python docs/figures/cost_curve.py [--scenario baseline] [--seed 0] [--out PNG]

Runs one scenario and draws, per week: spot and the two kinds of clouds' on-demand lists (what the
market produced), the owners' cash cost of an hour and the full cost of an hour of a new card (the
cost curve), and the share of capacity left idle (powered down) below.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from model import H100Market  # noqa: E402
from model.population import release_model  # noqa: E402

HERE = Path(__file__).parent


def draw(series: pd.DataFrame, title: str, out: Path) -> None:
    s = series.set_index(pd.to_datetime(series["date"]))
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(s.index, s["hyperscaler_ondemand_price"], color="#1f77b4", label="hyperscalers' list (on demand)")
    top.plot(s.index, s["private_ondemand_price"], color="#17becf", label="private clouds' list (on demand)")
    top.plot(s.index, s["spot_price"], color="#d62728", lw=1.2, label="spot (weeks with a trade)")
    top.plot(s.index, s["full_cost"], color="black", ls="--", label="full cost of a new card's hour")
    top.plot(s.index, s["cash_cost"], color="#7f7f7f", ls=":", lw=2, label="owners' cash cost of an hour")
    top.set_ylabel("USD per GPU-hour")
    top.set_yscale("log")
    top.set_title(title)
    top.legend(loc="upper right", fontsize=9)
    top.grid(alpha=0.3, which="both")
    capacity = s["idle_gpus"] + (s["gpu_hours_training"] + s["gpu_hours_finetune"] + s["gpu_hours_inference"]) / 168
    bottom.fill_between(s.index, 0, s["idle_gpus"] / capacity.where(capacity > 0), color="#bcbd22", alpha=0.6)
    bottom.set_ylabel("capacity idle\n(share)")
    bottom.set_ylim(0, 1)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="baseline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "cost_curve_baseline.png")
    args = ap.parse_args(argv)
    model = H100Market(scenario=args.scenario, seed=args.seed).run_to_end()
    draw(model.series(), f"Costs against prices: {args.scenario}, seed {args.seed}", args.out)
    release_model(model)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
