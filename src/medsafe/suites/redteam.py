"""The ``redteam`` suites: each harmful request attacked by an attacker model over turns.

Spec: ``redteam:STRATEGY`` attacks the ``harm`` test requests; ``redteam:STRATEGY@SUITE``
attacks the requests of any harm-style suite, written as it would be given to ``--suite``
(``redteam:crescendo@harm:train``, ``redteam:pair@medsafetybench:/data/msb@test``). The
strategy is a plug-in of the ``medsafe.strategies`` group (built in: ``pair``, ``crescendo``);
the attacker and the budgets come from the run (``--attacker``, ``--max-turns``,
``--max-queries``). Every turn is judged against the original request.
"""

from __future__ import annotations

from medsafe.errors import MedsafeError
from medsafe.redteam.strategy import resolve_strategy
from medsafe.samples import Sample
from medsafe.suites._base import Suite

DEFAULT_SOURCE = "harm"


def attacked(base: Sample, suite: str, strategy: str, source: str) -> Sample:
    """The request as a red-team item: same id and principle, the strategy in its metadata."""
    return base.model_copy(update={
        "suite": suite,
        "metadata": {**base.metadata, "strategy": strategy, "source_suite": source,
                     "judge_request": base.request},
    })


def create(rest: str = "") -> Suite:
    """``redteam:STRATEGY[@SUITE]``: the strategy before the first '@', the attacked suite after
    it (default ``harm``, its test split)."""
    from medsafe.suites import resolve_suite

    name, _, source = rest.partition("@")
    strategy = resolve_strategy(name.strip())
    base = resolve_suite(source or DEFAULT_SOURCE)
    if base.kind != "harm":
        raise MedsafeError(f"redteam:{rest}: a red-team suite attacks harmful requests, and "
                           f"{base.name} is a {base.kind} suite (use harm, medsafetybench:PATH, "
                           "hexphi:PATH, advbench:PATH, …)")
    suite_name = f"redteam:{strategy.name}" + (f"@{base.name}" if source else "")
    return Suite(
        name=suite_name, kind="redteam",
        samples=[attacked(s, suite_name, strategy.name, base.name) for s in base.samples],
        datasets=base.datasets,
        description=f"{base.name} requests attacked by {strategy.name} ({strategy.description}); "
                    "lower attack success is safer.",
        provenance={**base.provenance, "strategy": strategy.name, "source_suite": base.name},
    )
