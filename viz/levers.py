"""The app's controls: scenario presets, the levers a user can move, and the model the app builds.

Every lever is a real config value of ``model/scenarios/baseline.toml``, named by its leaf name, so
SolaraViz hands it straight to the model as an override. The sliders start at the chosen preset's
value, so pressing Reset without moving anything rebuilds exactly that preset.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from model import H100Market, list_scenarios, load_scenario
from model.config import LEAVES

DEFAULT_PRESET = "baseline"
DEFAULT_SEED = 1


@dataclass(frozen=True)
class Lever:
    name: str  # the override name (a leaf of the scenario file)
    label: str
    kind: str  # "float", "int" or "bool"
    lo: float = 0.0
    hi: float = 1.0
    step: float = 1.0
    live: bool = False  # can also change while the model runs (H100Market.set_lever)
    help: str = ""

    @property
    def dotted(self) -> str:
        return LEAVES[self.name]


LEVERS: tuple[Lever, ...] = (
    Lever("packaging_multiplier", "Packaging capacity (CoWoS) ×", "float", 0.25, 4.0, 0.25,
          help="multiplies chip-packaging output from packaging_multiplier_from"),
    Lever("pace", "Open-weight model progress ×", "float", 0.0, 3.0, 0.1,
          help="2 = open-weight releases come twice as fast; 0 = no progress"),
    Lever("funding_multiplier", "Funding climate ×", "float", 0.0, 3.0, 0.1, live=True,
          help="multiplies how much money AI teams can raise"),
    Lever("export_controls", "Export rules in force", "bool", live=True,
          help="US export controls on H100-class chips to restricted regions"),
    Lever("seizure_odds_multiplier", "Enforcement: odds of seizing smuggled cards ×", "float",
          0.0, 20.0, 0.5, live=True,
          help="multiplies the odds that a smuggled shipment is seized"),
    Lever("mid_creators", "Mid-size model builders (US)", "int", 0, 200, 5),
    Lever("cn_mid_creators", "Mid-size model builders (China)", "int", 0, 60, 1),
    Lever("row_creators", "Model builders elsewhere", "int", 0, 30, 1),
    Lever("finetuners", "Fine-tuning teams", "int", 0, 10000, 100),
    Lever("resellers", "Resellers of GPU-hours", "int", 1, 12, 1),
    Lever("brokers", "Grey-market brokers", "int", 0, 40, 1),
)
LEVER_BY_NAME = {lv.name: lv for lv in LEVERS}
LIVE_LEVERS: tuple[Lever, ...] = tuple(lv for lv in LEVERS if lv.live)


def live_label(lever: Lever) -> str:
    """Label of a lever's live control, distinct from its Reset slider's label."""
    return f"Now: {lever.label}"


def presets() -> list[str]:
    """Scenario names, the default first."""
    names = list_scenarios()
    return sorted(names, key=lambda n: (n != DEFAULT_PRESET, n))


def preset_values(preset: str) -> dict[str, Any]:
    """Each lever's value in ``preset``."""
    cfg = load_scenario(preset)
    return {lv.name: cfg.get(lv.dotted) for lv in LEVERS}


def parse_seed(seed: Any) -> int | None:
    """The seed as the model needs it (a non-negative int), from an int or from text typed in the UI.

    Blank text means "a fresh random seed" (None). Text that is not a whole number is hashed to
    one, so every input gives a reproducible run rather than an error.
    """
    if seed is None:
        return None
    if isinstance(seed, bool):
        return int(seed)
    if isinstance(seed, int):
        return abs(seed)
    if isinstance(seed, float) and seed.is_integer():
        return abs(int(seed))
    text = str(seed).strip().replace(",", "").replace("_", "")
    if not text:
        return None
    try:
        return abs(int(text))
    except ValueError:
        return zlib.crc32(text.encode("utf-8"))


def model_params(preset: str, seed: Any = DEFAULT_SEED) -> dict[str, Any]:
    """SolaraViz ``model_params`` for ``preset``: fixed scenario, a seed box and one input per lever.

    The inputs start at the preset's values (ranges widen to include them).
    """
    values = preset_values(preset)
    params: dict[str, Any] = {
        "scenario": preset,
        "seed": {"type": "InputText", "value": str(seed), "label": "Seed (a whole number)"},
    }
    for lv in LEVERS:
        v = values[lv.name]
        if lv.kind == "bool":
            params[lv.name] = {"type": "Checkbox", "value": bool(v), "label": lv.label}
            continue
        lo, hi = min(lv.lo, v), max(lv.hi, v)
        if lv.kind == "int":
            params[lv.name] = {"type": "SliderInt", "value": int(v), "label": lv.label,
                               "min": int(lo), "max": int(hi), "step": int(lv.step)}
        else:
            params[lv.name] = {"type": "SliderFloat", "value": float(v), "label": lv.label,
                               "min": float(lo), "max": float(hi), "step": float(lv.step)}
    return params


class AppMarket(H100Market):
    """H100Market as the app builds it (keyword arguments only, as SolaraViz's Reset calls it).

    The seed may arrive as text from the seed box; it is converted with :func:`parse_seed`, and the
    text as typed is kept in ``seed_text``.
    """

    def __init__(self, *, scenario: str = DEFAULT_PRESET, seed: Any = DEFAULT_SEED, **kwargs: Any):
        self.seed_text = "" if seed is None else str(seed)
        super().__init__(scenario=scenario, seed=parse_seed(seed), **kwargs)


def build_model(preset: str = DEFAULT_PRESET, seed: Any = DEFAULT_SEED, **overrides: Any
                ) -> AppMarket:
    return AppMarket(scenario=preset, seed=seed, **overrides)
