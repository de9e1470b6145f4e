"""Confidence of a decoded step, from the constrained decoder's token probabilities and the verifier.

Raw signals (every call list and plan carries them in :class:`~agentslm.step_types.CallSignals`):

* ``first_choice`` — probability of the first free choice: to call at all (``{``) or not (``]``);
* ``name_margin`` — smallest p(best) - p(second) among the tokens that chose a tool name (1.0 if forced);
* ``min_argument`` — the model's probability of its weakest chosen token inside the arguments;
* ``mean_token`` — the geometric mean of the model's probabilities of all the tokens it chose (the free ones;
  forced tokens are left out): a sequence-level confidence.

``combined`` is the smallest of the first three. A step whose output did not parse, or whose calls the verifier
refused (schema, argument grounding), has confidence 0 whatever the probabilities say. Which signal predicts
correctness best, and the threshold below which a step escalates, are measured by ``agentslm calibrate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentslm.step_types import CallSignals

__all__ = ["SIGNALS", "Confidence", "signal_values", "step_confidence"]

SIGNALS = ("combined", "first_choice", "name_margin", "min_argument", "mean_token")
"""Names of the signals (also the values ``RoutingPolicy.signal`` accepts)."""


def signal_values(signals: CallSignals) -> dict[str, float]:
    """The scalar signals of a step (missing ones count as certain: 1.0)."""
    first = signals.first_choice_probability if signals.first_choice_probability is not None else 1.0
    name = signals.name_margin if signals.name_margin is not None else 1.0
    arg = math.exp(signals.min_argument_logprob) if signals.min_argument_logprob is not None else 1.0
    values = {"first_choice": first, "name_margin": name, "min_argument": arg}
    values["combined"] = min(values.values())
    values["mean_token"] = math.exp(signals.mean_logprob) if signals.mean_logprob is not None else 1.0
    return values


@dataclass(frozen=True)
class Confidence:
    score: float
    """The chosen signal's value, or 0.0 when the output is unusable or refused."""
    signal: str
    values: dict[str, float] = field(default_factory=dict)
    """Every raw signal (exposed on events and in benchmark records)."""
    problems: tuple[str, ...] = ()
    """Why the score was forced to 0 (parse error, verifier refusals)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 5),
            "signal": self.signal,
            "values": {k: round(v, 5) for k, v in self.values.items()},
            "problems": list(self.problems),
        }


def step_confidence(
    signals: CallSignals, *, signal: str = "combined", parse_error: str | None = None, refusals: Sequence[str] = ()
) -> Confidence:
    """Confidence of one step from its signals and what the verifier said about its calls."""
    if signal not in SIGNALS:
        from agentslm.errors import UserError

        raise UserError(f"Unknown confidence signal {signal!r}.", hint=f"use one of {', '.join(SIGNALS)}.")
    values = signal_values(signals)
    problems = tuple(([f"unusable output: {parse_error}"] if parse_error else []) + [f"refused: {r}" for r in refusals])
    return Confidence(0.0 if problems else values[signal], signal, values, problems)
