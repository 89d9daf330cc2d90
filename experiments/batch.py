"""``mesa.batch_run`` with every week: :class:`BatchMarket`.

Mesa 3.3's ``batch_run`` reads the collected values by list position up to ``model.steps - 1``
(``mesa.batchrunner._model_run_func``; Mesa issue #2514, fixed after 3.3). H100Market collects
its initial state in ``__init__`` (row 0) and one row after each week, so a run of N weeks has
N + 1 rows and ``batch_run`` would report rows 0..N-1: the last week silently missing, and with
the default ``data_collection_period=-1`` the week before the end reported as "the end".

:class:`BatchMarket` is H100Market with one extra call of ``step()`` after the last week, which
does nothing but end the run: ``model.steps`` becomes N + 1, so ``batch_run`` reads rows 0..N,
each labelled with its own week (``Step`` s is the state after s weeks, as in ``m.series()``).
The series are H100Market's, value for value. The closing call also releases the model
(``release_model``), so a batch of many runs does not keep every model alive.

    import mesa
    from experiments.batch import BatchMarket

    rows = mesa.batch_run(BatchMarket, parameters={"seed": range(5),
                                                   "packaging_multiplier": [1.0, 2.0]},
                          data_collection_period=1, number_processes=1)

Seeds go in ``parameters`` as a list: Mesa's ``iterations`` repeats each run with the same
parameters, so with a fixed seed it repeats the same run. BatchMarket refuses to run without a
seed (a run that cannot be repeated).
"""

from __future__ import annotations

from typing import Any

from model.errors import InputError
from model.market import H100Market
from model.population import release_model


class BatchMarket(H100Market):
    """H100Market for ``mesa.batch_run``: every week reported, the last one included."""

    def __init__(self, *, scenario: str = "baseline", seed: Any = None, **overrides: Any):
        if seed is None:
            raise InputError("BatchMarket needs a seed; give the seeds as a parameter list, e.g. "
                             "mesa.batch_run(BatchMarket, parameters={'seed': range(10), ...}) "
                             "(Mesa's iterations repeat the same parameters, seed included)")
        super().__init__(scenario=scenario, seed=seed, **overrides)

    def step(self) -> None:
        if self.steps > self.n_steps:  # the closing call: no week, only the end of the run
            self.running = False
            release_model(self)
            return
        super().step()
        if self.steps >= self.n_steps:
            self.running = True  # one more call, so batch_run reads the last week
