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
import zlib
from collections.abc import Callable, Mapping
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


def parse_seed_strict(seed: Any) -> int | None:
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


def model_params(preset: str, seed: Any = DEFAULT_SEED, guard: ResetGuard | None = None
                 ) -> dict[str, Any]:
    """SolaraViz ``model_params`` for ``preset``: fixed scenario, a seed box and one input per lever.

    The inputs start at the preset's values (ranges widen to include them). ``guard``, when given,
    goes along as a fixed parameter so that Reset refuses bad lever values in the page.
    """
    values = preset_values(preset)
    params: dict[str, Any] = {
        "scenario": preset,
        "seed": {"type": "InputText", "value": str(seed), "label": "Seed (a whole number)"},
    }
    if guard is not None:
        params["guard"] = guard
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


class ResetGuard:
    """One browser session's guard for SolaraViz's Reset, passed as a fixed model parameter.

    Reset runs ``type(model)(**params)`` in its button handler and catches nothing, so a
    constructor that raises takes the page down with a traceback. Solara's error boundary
    (``solara.use_exception``) cannot catch it: in the reacton build here an exception from an event
    handler sends the page into an endless render loop. So :class:`AppMarket`, given a guard, does
    not raise: it reports the refusal through ``on_refused`` and hands back the model ``running()``
    returns, which Reset then sets to itself, a no-op.
    """

    def __init__(self, running: Callable[[], Any], on_refused: Callable[[LeverRefusal], None]):
        self.running = running
        self.on_refused = on_refused

    def __repr__(self) -> str:  # Mesa logs the Reset parameters
        return "ResetGuard()"


class AppMarket(H100Market):
    """H100Market as the app builds it (keyword arguments only, as SolaraViz's Reset calls it).

    The seed may arrive as text from the seed box; it is converted with :func:`parse_seed`, and the
    text as typed is kept in ``seed_text``. Without a ``guard``, values the model refuses raise
    InputError as usual; with one, see :class:`ResetGuard` and ``__new__``.
    """

    _built = False

    def __new__(cls, *, guard: ResetGuard | None = None, scenario: str = DEFAULT_PRESET,
                seed: Any = DEFAULT_SEED, **overrides: Any):
        """Check the levers before building anything. With a guard and a refusal, return the
        running model instead of a new one (Python then calls ``__init__`` on that model, which
        leaves a built model as it is)."""
        if guard is not None:
            problem = refusal(scenario, overrides)
            running = guard.running() if problem is not None else None
            if running is not None:
                guard.on_refused(problem)
                return running
        return super().__new__(cls)

    def __init__(self, *, guard: ResetGuard | None = None, scenario: str = DEFAULT_PRESET,
                 seed: Any = DEFAULT_SEED, **kwargs: Any):
        if self._built:  # the running model, kept by __new__ after a refused Reset
            return
        self.seed_text = "" if seed is None else str(seed)
        super().__init__(scenario=scenario, seed=parse_seed(seed), **kwargs)
        self._built = True


def build_model(preset: str = DEFAULT_PRESET, seed: Any = DEFAULT_SEED, **overrides: Any
                ) -> AppMarket:
    return AppMarket(scenario=preset, seed=seed, **overrides)
