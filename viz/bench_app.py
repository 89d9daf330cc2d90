"""Benchmark of the browser app's server side: one step of the model plus the page's redraw.

    python -m viz.bench_app [--steps 40] [--at 10 100 200]

Renders the app's page (viz/app.py, default size: baseline preset, Market tab) with Solara in
this process, as the server does for a browser tab, and clicks Step. The time of a click is what
one step costs the server while a user plays the model: ``model.step()``, then every component
that shows model state rebuilds (headline, six chart specs, step counter). It is reported next to
the model step alone, so the redraw's share is visible. The browser's own drawing of the charts
(Vega, on the client) is not included, nor is sending the changed widgets to it (here the
widgets have no connection; the six chart specs are about 150 kB of JSON at week 200, which takes
about 5 ms to encode). A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def _time_clicks(button, n: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of ``n`` clicks (the CPU time is what the click itself costs,
    without what other processes on a busy machine take from it)."""
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        button.click()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viz.bench_app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="clicks timed at each point")
    parser.add_argument("--at", type=int, nargs="+", default=[0, 100, 200],
                        help="weeks into the run at which to time (default: 0 100 200)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    import ipyvuetify as v
    import solara

    from viz import levers
    from viz.app import Page
    from viz.components import market_specs

    built: list = []
    original = levers.AppMarket.__init__

    def spy(self, **kwargs):
        original(self, **kwargs)
        built.append(self)

    levers.AppMarket.__init__ = spy
    try:
        box, rc = solara.render(solara.AppLayout(children=[Page()]), handle_error=False)
    finally:
        levers.AppMarket.__init__ = original
    model = built[-1]
    step = rc.find(v.Btn, children=["Step"]).widget
    twin = levers.build_model()  # the same model without a page, for the step alone

    print(f"app step + redraw, baseline preset, {args.steps} clicks per point "
          f"(median / max, ms)")
    # this table's layout is read by experiments/bench.py: the extra figures go after it
    print(f"{'week':>6} {'step+redraw':>14} {'model step':>12} {'redraw':>8} {'specs':>7}")
    extra = []
    for at in sorted(args.at):
        at = min(at, model.n_steps - args.steps)
        while model.steps < at:
            step.click()
        while twin.steps < at:
            twin.step()
        passes = rc.render_count
        clicks, cpu = _time_clicks(step, args.steps)
        passes = (rc.render_count - passes) / args.steps
        alone = []
        for _ in range(args.steps):
            t = time.perf_counter()
            twin.step()
            alone.append(time.perf_counter() - t)
        t = time.perf_counter()
        market_specs(model)
        specs = time.perf_counter() - t
        med, mx = statistics.median(clicks), max(clicks)
        med_alone = statistics.median(alone)
        print(f"{at:>6} {med * 1e3:>7.0f} / {mx * 1e3:<5.0f} {med_alone * 1e3:>12.0f} "
              f"{(med - med_alone) * 1e3:>8.0f} {specs * 1e3:>7.0f}")
        extra.append(f"week {at}: CPU time of a click {statistics.median(cpu) * 1e3:.0f} ms "
                     f"(median), {passes:.1f} render passes a click")
    print("\n".join(extra))
    rc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
