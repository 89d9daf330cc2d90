"""The app's controls: scenario presets, the levers a user can move, and the model the app builds.

Every lever is a real config value of ``model/scenarios/baseline.toml``, named by its leaf name, so
SolaraViz hands it straight to the model as an override. The sliders start at the chosen preset's
value, so pressing Reset without moving anything rebuilds exactly that preset.

Lever values the model refuses (a value out of range, or a combination that makes no sense, see
``model.config.combination_problems``) become a :class:`LeverRefusal` the page shows; with a
:class:`ResetGuard` among its parameters, SolaraViz's Reset then keeps the model that is running.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model import H100Market, InputError, list_scenarios, load_scenario
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
    unit: str = "×"  # shown after the value

    @property
    def digits(self) -> int:
        """Decimals the value is shown with (those of the step)."""
        if self.kind != "float":
            return 0
        text = f"{self.step:g}"
        return len(text.split(".")[1]) if "." in text else 0

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
          help="US export controls on H100-class chips to restricted regions", unit=""),
    Lever("seizure_odds_multiplier", "Enforcement: odds of seizing smuggled cards ×", "float",
          0.0, 20.0, 0.5, live=True,
          help="multiplies the odds that a smuggled shipment is seized"),
    Lever("mid_creators", "Mid-size model builders (US)", "int", 0, 200, 5, unit="builders"),
    Lever("cn_mid_creators", "Mid-size model builders (China)", "int", 0, 60, 1, unit="builders"),
    Lever("row_creators", "Model builders elsewhere", "int", 0, 30, 1, unit="builders"),
    Lever("finetuners", "Fine-tuning teams", "int", 0, 10000, 100, unit="teams"),
    Lever("resellers", "Resellers of GPU-hours", "int", 1, 12, 1, unit="firms"),
    Lever("brokers", "Grey-market brokers", "int", 0, 40, 1, unit="brokers"),
)
LEVER_BY_NAME = {lv.name: lv for lv in LEVERS}
LIVE_LEVERS: tuple[Lever, ...] = tuple(lv for lv in LEVERS if lv.live)


def format_value(lever: Lever, value: Any) -> str:
    """A lever's value as its control shows it, with its unit: "1.5×", "120 teams", "on"."""
    if lever.kind == "bool":
        return "on" if value else "off"
    if lever.kind == "int":
        return f"{int(value):,} {lever.unit}".strip()
    return f"{float(value):.{lever.digits}f}{lever.unit}"


def presets() -> list[str]:
    """Scenario names, the default first."""
    names = list_scenarios()
    return sorted(names, key=lambda n: (n != DEFAULT_PRESET, n))


def preset_values(preset: str) -> dict[str, Any]:
    """Each lever's value in ``preset``."""
    cfg = load_scenario(preset)
    return {lv.name: cfg.get(lv.dotted) for lv in LEVERS}


def parse_seed(seed: Any) -> int | None:
    """The seed typed in the seed box as a whole number >= 0, or None if it is not one.

    Spaces around it are fine; a sign, a decimal point, letters or nothing at all are not."""
    if isinstance(seed, bool):
        return None
    if isinstance(seed, int):
        return seed if seed >= 0 else None
    text = str(seed).strip()
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)


# ---------------------------------------------------------------------------------------------
# Refused lever values
# ---------------------------------------------------------------------------------------------
#: what load_scenario puts before a message: the scenario file (and the overrides given), or
#: "override" for a value out of range
_SOURCE = re.compile(r"^(?:override|.*?\.toml(?: with overrides [\w., ]+)?): ")


def _names(reason: str, dotted: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(dotted)}(?!\w)", reason) is not None


def lever_value_text(lever: Lever, value: Any) -> str:
    if lever.kind == "bool":
        return "on" if value else "off"
    if lever.kind == "float" and isinstance(value, (int, float)):
        return str(float(value))  # as the reason writes it
    return str(value)


@dataclass(frozen=True)
class LeverRefusal:
    """Lever values the model refused: its reason (which names the keys, the values and what to
    change) and the app's levers that the reason names, with the values tried."""

    reason: str
    levers: tuple[tuple[Lever, Any], ...] = ()

    @classmethod
    def of(cls, err: InputError, values: Mapping[str, Any]) -> LeverRefusal:
        """From the model's InputError and the lever values tried (by lever name).

        The scenario file's path that the loader puts first means nothing in the page; it goes.
        """
        reason = _SOURCE.sub("", str(err), count=1)
        named = tuple((lv, values[lv.name]) for lv in LEVERS
                      if lv.name in values and _names(reason, lv.dotted))
        return cls(reason, named)

    def lever_lines(self) -> list[str]:
        """``label = value`` for each lever the reason names, as the sliders show them."""
        return [f"{lv.label} = {lever_value_text(lv, v)}" for lv, v in self.levers]


def refusal(scenario: str, overrides: Mapping[str, Any]) -> LeverRefusal | None:
    """Why the model would refuse ``overrides`` on ``scenario``; None if it accepts them."""
    try:
        load_scenario(scenario, **overrides)
    except InputError as err:
        return LeverRefusal.of(err, overrides)
    return None


SEED_ERROR = "The seed must be a whole number such as 0, 1 or 42 (no sign, no decimals)."


class AppMarket(H100Market):
    """H100Market as the app builds it: the seed may arrive as the text typed in the seed box
    (a whole number, or blank for a fresh random seed), kept as typed in ``seed_text``."""

    def __init__(self, *, scenario: str = DEFAULT_PRESET, seed: Any = DEFAULT_SEED, **kwargs: Any):
        value = parse_seed(seed) if seed is not None and str(seed).strip() else None
        if value is None and seed is not None and str(seed).strip():
            raise InputError(f"seed {seed!r} is not allowed. {SEED_ERROR}")
        self.seed_text = "" if seed is None else str(seed)
        super().__init__(scenario=scenario, seed=value, **kwargs)


def build_model(preset: str = DEFAULT_PRESET, seed: Any = DEFAULT_SEED, **overrides: Any
                ) -> AppMarket:
    return AppMarket(scenario=preset, seed=seed, **overrides)
