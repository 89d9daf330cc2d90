"""An LHS experiment on the H100 market with EMA Workbench: feature scoring and PRIM.

    pip install -e '.[ema]'          # or: make setup (installs every extra)
    python docs/examples/ema_lhs.py

Three levers vary over the app's slider ranges; each design point runs for two seeds (EMA's
replications), and each outcome is the median over them. The runs stop at mid-2024, the boom
and the turn, so the whole experiment takes a few minutes on two cores.
"""

import warnings

from ema_workbench import MultiprocessingEvaluator, perform_experiments
from ema_workbench.analysis import feature_scoring, prim

from experiments.ema import ema_model

warnings.filterwarnings("ignore")  # EMA's notices about optional packages it does not need

OUTCOMES = {
    # a trade price (spot_price) is NaN in a world where nothing trades, and feature scoring
    # refuses NaN: the clouds' reserved rate and the installed cards always have a value
    "peak_reserved_price": {"metric": "reserved_price", "window": ["2023-01-01", "2024-06-30"],
                            "stat": "max"},
    "gpus_installed_mid_2024": {"metric": "gpus_installed",
                                "window": ["2024-06-01", "2024-06-30"], "stat": "last"},
    "peak_lead_time": {"metric": "lead_time_weeks", "window": ["2022-10-03", "2024-06-30"],
                       "stat": "max"},
    "training_share_h1_2024": {"metric": "training_share",
                               "window": ["2024-01-01", "2024-06-30"], "stat": "mean"},
}

if __name__ == "__main__":
    model = ema_model(["packaging_multiplier", "funding_multiplier", "pace"],
                      outcomes=OUTCOMES, seeds=[0, 1], constants={"end": "2024-06-30"})
    with MultiprocessingEvaluator(model, n_processes=2) as evaluator:
        experiments, outcomes = perform_experiments(model, scenarios=40, evaluator=evaluator)

    x = experiments[["packaging_multiplier", "funding_multiplier", "pace"]]
    print("Feature scores (extra trees; each column sums to 1):")
    scores = feature_scoring.get_feature_scores_all(x, outcomes).round(3)
    scores.index.name = scores.columns.name = None
    print(scores.to_string())

    # Scenario discovery: which lever values give a queue of more than 30 weeks?
    y = outcomes["peak_lead_time"] > 30
    print(f"\n{y.sum()} of {len(y)} design points have a peak lead time above 30 weeks")
    box = prim.Prim(x, y, threshold=0.8).find_box()
    box.inspect(style="table")
