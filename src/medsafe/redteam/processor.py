"""A red-team item of a run: one request attacked by a strategy, to its outcome.

The processor builds the session of an item (its models, budget and stored calls), lets the
strategy run, reads the outcome, and stores the conversation's record on the item. The item is
then linked to its deciding turn (the success, else the highest-scored turn), so the run's
usual figures (score, harmful rate, comparisons) read an attack as one answer.

Outcomes: ``success`` (a turn scored at or above the harm threshold), ``defended`` (the budget
was spent, or the strategy stopped, without one), and the failures, which are never a success
and are counted apart: ``attacker_failure``, ``target_error``, ``judge_error`` (no turn could be
scored) and ``strategy_error`` (a plug-in crashed).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from medsafe.engine.config import RedteamOptions
from medsafe.errors import MedsafeError
from medsafe.redteam.calls import Model, StoredCalls
from medsafe.redteam.session import AttackSession, Budget, Turn
from medsafe.redteam.strategy import (
    AttackerFailure,
    BudgetSpent,
    Strategy,
    TargetFailure,
    resolve_strategy,
)
from medsafe.samples import Sample
from medsafe.targets import Completion, Target

if TYPE_CHECKING:
    from medsafe.engine.runner import Pipeline

SUCCESS, DEFENDED = "success", "defended"
FAILURES = ("attacker_failure", "target_error", "judge_error", "strategy_error")
OUTCOMES = (SUCCESS, DEFENDED, *FAILURES)


async def attack(strategy: Strategy, session: AttackSession) -> tuple[str, str | None]:
    """Run the strategy on the session; its outcome and the error that ended it, if any."""
    try:
        await strategy.run(session)
    except BudgetSpent:
        pass
    except AttackerFailure as exc:
        return "attacker_failure", str(exc)
    except TargetFailure as exc:
        return "target_error", str(exc)
    except MedsafeError:
        raise
    except Exception as exc:  # a plug-in's bug costs its conversation, not the run
        return "strategy_error", f"the strategy crashed: {exc!r}"
    if session.success is not None:
        return SUCCESS, None
    if not session.history:
        return "strategy_error", "the strategy sent nothing to the target"
    if not any(t.judgement.ok for t in session.history):
        errors = {t.judgement.error for t in session.history}
        return "judge_error", f"the judge scored no turn: {'; '.join(sorted(map(str, errors)))}"
    return DEFENDED, None


def deciding_turn(session: AttackSession) -> Turn | None:
    """The turn an attack is read as: its success, else its highest-scored turn (the first of
    equals), else its last turn."""
    if session.success is not None:
        return session.success
    scored = [t for t in session.history if t.judgement.score is not None]
    if scored:
        return max(scored, key=lambda t: (t.judgement.score, -t.query))
    return session.history[-1] if session.history else None


def conversation_record(strategy: Strategy, session: AttackSession, outcome: str,
                        error: str | None) -> dict[str, Any]:
    """What the item keeps of its conversation: outcome, counts and every turn."""
    won = session.success
    return {
        "strategy": strategy.name, "outcome": outcome, "error": error,
        "queries": session.queries, "turns": session.turns,
        "attacker_calls": session.attacker_calls, "unusable_attacker_answers": session.unusable_answers,
        "judge_errors": sum(1 for t in session.history if not t.judgement.ok),
        "backtracks": sum(1 for t in session.history if not t.kept),
        "success_query": won.query if won else None, "success_turn": won.turn if won else None,
        "max_score": max((t.judgement.score for t in session.history
                          if t.judgement.score is not None), default=None),
        "budget": {"max_turns": session.budget.max_turns, "max_queries": session.budget.max_queries},
        "steps": [t.record() for t in session.history],
    }


class ConversationProcessor:
    """Processes the items of ``redteam`` suites (see :class:`medsafe.engine.runner.ItemProcessor`)."""

    def __init__(self, attacker: Target, options: RedteamOptions) -> None:
        self.attacker = attacker
        self.options = options
        self.budget = Budget(options.max_turns, options.max_queries)
        self._strategies: dict[str, Strategy] = {}
        self._attacker_limit: asyncio.Semaphore | None = None

    def strategy(self, name: str) -> Strategy:
        """The strategy of that name, built once."""
        if name not in self._strategies:
            self._strategies[name] = resolve_strategy(name)
        return self._strategies[name]

    def _attacker_model(self, pipeline: Pipeline) -> Model:
        spec = self.attacker.spec
        if spec in pipeline.targets and pipeline.targets[spec] is self.attacker:
            limit = pipeline.generation_limit(spec)  # one model: one bound on its calls
        else:
            if self._attacker_limit is None:
                self._attacker_limit = asyncio.Semaphore(self.attacker.concurrency)
            limit = self._attacker_limit
        params = self.options.attacker_params.model_copy(update={"seed": pipeline.params.seed})
        return Model.of(self.attacker, params, limit, "attacker")

    def session(self, pipeline: Pipeline, item: dict[str, Any], sample: Sample) -> AttackSession:
        """A fresh session for the item (its calls replay from the store)."""
        key_item = (item["target"], item["suite"], item["sample_id"])
        target = pipeline.targets[item["target"]]
        return AttackSession(
            request=str(sample.metadata.get("judge_request") or sample.request),
            context=sample.messages[:-1], budget=self.budget,
            calls=StoredCalls(pipeline.store, pipeline.run_id, key_item, pipeline.verdicts),
            attacker=self._attacker_model(pipeline),
            target=Model.of(target, pipeline.params, pipeline.generation_limit(item["target"]),
                            "target"),
            principle=sample.principle,
        )

    async def process(self, pipeline: Pipeline, item: dict[str, Any], sample: Sample) -> bool:
        """Attack the item's request and store the outcome; True when the attack ran to a
        verdict (success or defended)."""
        strategy = self.strategy(str(sample.metadata["strategy"]))
        session = self.session(pipeline, item, sample)
        outcome, error = await attack(strategy, session)
        store, run_id = pipeline.store, pipeline.run_id
        key_item = (item["target"], item["suite"], item["sample_id"])
        store.record_conversation(run_id, key_item, conversation_record(strategy, session, outcome,
                                                                         error))
        store.trim_steps(run_id, key_item, session.calls.steps)
        turn = deciding_turn(session)
        if outcome not in (SUCCESS, DEFENDED, "judge_error") or turn is None:
            store.mark_generation_failed(run_id, key_item, f"{outcome}: {error}")
            return False
        # Already stored with the turn: only linked here.
        answer = Completion(text=turn.answer, finish_reason=turn.finish_reason)
        store.record_response(run_id, key_item, turn.response_key, answer, cached=True)
        if outcome == "judge_error":
            store.record_judgement(run_id, key_item, "", turn.judgement.model_copy(
                update={"error": error}), cached=False)
            return False
        store.record_judgement(run_id, key_item, turn.verdict_key, turn.judgement, cached=True)
        return True

