"""How a decoded plan becomes a decision: the planner's policy (:class:`PlannerPolicy`), per model.

It starts from the model's calibration (:meth:`PlannerPolicy.for_model`: its ``no_tool_threshold`` and its profile's
defaults), takes overrides, or a file ``agentslm bench gate --write-policy`` wrote (:meth:`PlannerPolicy.from_file`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentslm.errors import UserError
from agentslm.models.base import Model

__all__ = ["PlannerPolicy", "read_policy_file"]


@dataclass(frozen=True, kw_only=True)
class PlannerPolicy:
    """How a decoded list becomes a decision."""

    min_first: float = 0.0
    """Make no call unless the decoder started the first task with at least this probability."""
    min_more: float = 0.0
    """Close the plan where the decoder started a further task with less probability. Off by default: on
    BFCL live_* data this decision carries almost no signal (Youden J 0.03 at 0.67), and in agent runs
    a 0.67 gate cut correct dependent second steps (``list_orders($1)`` after ``find_user``)."""
    grounding: bool = True
    """Ask the user instead of calling when a value does not appear in the conversation."""
    grounding_scope: Literal["every", "any"] = "every"
    """With ``grounding``: ``every`` value the call states must appear in the conversation (calibrated on the 135M
    model, which invents values), or ``any``: one stated value is enough to tie the call to the request, the others
    may be the model's normalisation of what was said ("500 US dollars to Canadian dollars" -> USD, CAD; "June01 2023"
    -> "06-01-2023"); identifiers stay limited to their sources by the grammar (``provenance``). A model's profile
    sets it (:meth:`for_model`)."""
    drop_ungrounded_optional: bool = True
    """With ``grounding``: an optional argument (not required by the schema) whose value does not appear in the
    conversation is left out, so its default applies, instead of asking the user for it (e.g. a note's title the
    model invented for "save a note: pay the rent")."""
    max_tasks: int = 4
    """Largest plan the grammar admits."""
    stop_unrequested_effects: bool = True
    """Side effects (write, destructive, external) the request did not ask for are not made. After results, a new
    side-effecting call is kept only when the current request names its tool (:func:`named_by`: a word for its verb
    and its object, "save ... note" for ``add_note``) and that tool has not run yet in this run; in the first round,
    the list's first side-effecting call must be named or invoked (:func:`invoked_by`: the request starts with a word
    for its verb or holds its object; "Order a large pizza" makes no stand-in note) and a further one named. The
    models, once an email is sent, go on to add the addressee to the contacts, save the message as a note, or propose
    ``delete_all_notes``; copying a result into such a write is no reason to make it."""
    min_no_tool: float = 0.0
    """Accept an empty first-round list ("no tool fits") only when the decoder chose it with at least this
    probability. Below it, the planner decodes one call (the list may not be empty) over the tools the request
    names (see :meth:`Planner._forced_call`); that call is then grounded like any other (a missing required value
    is asked for). Where the request names no tool, the answer stays "no tool". 0 (off) for a model of unknown
    calibration; the embedded default's adapter, which learned to answer ``[]`` so well that it refuses near-domain
    requests ("Save a note: ..."), uses the threshold calibrated on BFCL live_* (docs/benchmarks/no-tool-calibration)."""
    stop_when_covered: bool = True
    """After a round whose calls all succeeded, answer without another planning round when the request is covered
    (see :func:`request_covered`): every tool whose name shares a word with the request has run, and every value the
    request states (numbers, quoted text, capitalised names) went into a call. The small models' round after results
    mostly re-emits the call just made; skipping it takes 2 of the 5 model steps out of a single-call request
    (docs/benchmarks/latency). A request that names another tool ("... and save it as a note") or holds an unused value
    ("Paris and London") still gets its round after results."""
    provenance: bool = True
    """Identifier fields (emails, URLs, paths, ids, dates, times, phone numbers; see :mod:`agentslm.provenance`) admit
    in the grammar only values the request or an earlier result holds, so the model copies instead of inventing; a
    tool whose required identifier no source holds yet is left out of the grammar for this round (it runs after the
    lookup that produces the value). When the request names such a tool and the round plans nothing else it needs,
    the agent asks for the value. A call that still states an unsupported value (a free text with a number no source
    holds, junk) waits for the results of a lookup planned in the same round, or is not made."""
    finish_named_writes: bool = True
    """When a round plans nothing new and the current request (no question) names a side-effecting tool with its verb
    used as a verb (:func:`named_by`, :func:`verb_used`: "save ... in a note titled Q3") that has not run in this run
    and can run now, the planner decodes one call of that tool (the grammar offers it alone; the prompt is unchanged)
    with every string field limited to copies (:func:`agentslm.write_candidates.copy_parameters`) instead of stopping.
    The small models, once the lookup or conversion is done, re-propose it or stop (0 of 16 dependent tasks on the
    embedded default); the call then meets provenance and grounding like any other. Not after a round with a
    failed call: a write made from an error is no completion."""
    probe_more: bool = True
    """After the decoded list, ask the model for one more task at a time (the list's text plus ``,`` as the
    reply's start) while it proposes a new call whose values all appear in the request. Small models
    that stop after one call then still plan independent calls together (run in parallel); a probed
    call must be new, grounded in the request and use at least one value no earlier call used, so a
    finished request usually yields a repeat and stops."""

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], model: Model | None = None) -> PlannerPolicy:
        """The policy in a file ``agentslm bench gate --write-policy`` wrote, over ``model``'s defaults (or the
        class defaults)."""
        fields = read_policy_file(path)
        return cls.for_model(model, **fields) if model is not None else cls(**fields)

    @classmethod
    def for_model(cls, model: Model, **overrides: Any) -> PlannerPolicy:
        """The policy calibrated for ``model``: its ``no_tool_threshold``, its profile's defaults
        (:attr:`~agentslm.models.profiles.ModelProfile.policy`), then ``overrides``."""
        values: dict[str, Any] = {"min_no_tool": model.no_tool_threshold, **model.profile.policy, **overrides}
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise UserError(
                f"Unknown planner policy field(s): {', '.join(unknown)}.",
                hint=f"use fields of PlannerPolicy: {', '.join(sorted(cls.__dataclass_fields__))}.",
            )
        return cls(**values)


def read_policy_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The policy fields in a file ``agentslm bench gate --write-policy`` wrote (``{"policy": {...}, ...}``), checked
    against :class:`PlannerPolicy`; a clear error for a missing or malformed file."""
    file = Path(path)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"No policy file {file}.", hint="write one with agentslm bench gate RESULTS --write-policy FILE."
        ) from None
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read the policy file {file}: {exc}.", hint="it is JSON with a 'policy' object.") from None
    fields = document.get("policy") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise UserError(f"{file} has no 'policy' object.", hint="write it with agentslm bench gate --write-policy.")
    unknown = sorted(set(fields) - set(PlannerPolicy.__dataclass_fields__))
    if unknown:
        raise UserError(f"{file} sets unknown policy field(s): {', '.join(unknown)}.", hint="see PlannerPolicy's fields.")
    return dict(fields)
