"""Eval scenarios: `evals/scenarios/*.yaml`, validated strictly when loaded.

Each file holds `scenarios:`, a list of conversations. A turn is what the lead writes, the
replies the scripted model gives in CI (`scripted`: tool calls and/or a final text, what a good
real model would do; ignored against a real model), optionally `parallel_tools: true` (the
turn's consecutive tool-call replies are merged into one response, as a real model asks for
parallel calls) and optionally the kind of reply that must reach the lead. `expect` is the
state the conversation must leave behind. `temperature` and `handoff` must always be written
(null is an expectation too); any other expectation is checked only when written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from seleto_agent.agents.tools import TOOL_NAMES
from seleto_agent.db.repositories.leads import SLOT_COLUMNS
from seleto_agent.domain.temperature import Temperature
from seleto_agent.sandbox.model_replies import ScriptedReply
from seleto_agent.settings import PROJECT_ROOT

SCENARIOS_DIR = PROJECT_ROOT / "evals" / "scenarios"

# `outbound_messages.reply_kind` of the turn's reply, or "none" when the bot stays silent
# (a person owns the conversation).
NO_REPLY = "none"
ReplyKind = Literal[
    "agent",
    "agent:regenerated",
    "fixed:guardrail_fallback",
    "fixed:lgpd_request_received",
    "none",
]
HandoffKind = Literal["hot_lead", "requested", "lgpd"]
LgpdKind = Literal["data_deletion", "data_access", "data_correction", "opt_out"]
BOOLEAN_SLOTS = frozenset({"knows_seleto"})

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ScenarioError(ValueError):
    """A scenario file is missing or invalid; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_tools(names: Iterable[str]) -> None:
    for name in names:
        if name not in TOOL_NAMES:
            raise ValueError(f"unknown tool {name!r}; tools: {', '.join(TOOL_NAMES)}")


def merge_tool_calls(replies: tuple[ScriptedReply, ...]) -> tuple[ScriptedReply, ...]:
    """Each run of consecutive tool-call replies as one reply carrying all their calls, in
    order; text replies stay where they are. Only consecutive ones merge: a text reply ends a
    model run (a blocked draft starts a new one), and calls never cross runs."""
    merged: list[ScriptedReply] = []
    for reply in replies:
        previous = merged[-1] if merged else None
        if reply.tool_calls and previous is not None and previous.tool_calls:
            contents = [c for c in (previous.content, reply.content) if c is not None]
            merged[-1] = ScriptedReply(
                content="\n".join(contents) if contents else None,
                tool_calls=[*previous.tool_calls, *reply.tool_calls],
            )
        else:
            merged.append(reply)
    return tuple(merged)


class Turn(_Strict):
    lead: Text
    scripted: tuple[ScriptedReply, ...] = ()
    # The turn's tool calls come in one model response (Agno then runs them concurrently).
    parallel_tools: bool = False
    reply_kind: ReplyKind | None = None

    def replies(self, *, parallel: bool = False) -> tuple[ScriptedReply, ...]:
        """The scripted model's replies for this turn; `parallel` merges the tool calls as
        `parallel_tools` does, for a run that makes every turn parallel."""
        if parallel or self.parallel_tools:
            return merge_tool_calls(self.scripted)
        return self.scripted

    @model_validator(mode="after")
    def _known_tools(self) -> Turn:
        _check_tools(call.name for reply in self.scripted for call in reply.tool_calls or ())
        return self


class Expectations(_Strict):
    temperature: Temperature | None
    # A list accepts any one of its kinds: when a turn both asks for a person and makes the
    # lead hot, which handoff is recorded depends on which tool call runs first.
    handoff: HandoffKind | Annotated[tuple[HandoffKind, ...], Field(min_length=1)] | None
    slots: dict[str, str | bool] = Field(default_factory=dict)
    suggested_model: str | None = None
    quotes: NonNegativeInt | None = None
    companies: tuple[str, ...] | None = None
    lgpd_requests: tuple[LgpdKind, ...] | None = None
    model_calls: NonNegativeInt | None = None
    audit_actions: tuple[str, ...] | None = None
    # Tools the model must call at least once; by default those the turns script.
    tools: tuple[str, ...] | None = None

    @property
    def handoff_kinds(self) -> frozenset[str]:
        """The handoff kinds that satisfy `handoff` (empty: no handoff)."""
        if self.handoff is None:
            return frozenset()
        return frozenset((self.handoff,) if isinstance(self.handoff, str) else self.handoff)

    @model_validator(mode="after")
    def _known_slots_and_tools(self) -> Expectations:
        _check_tools(self.tools or ())
        for slot, value in self.slots.items():
            if slot not in SLOT_COLUMNS:
                raise ValueError(f"unknown slot {slot!r}; slots: {', '.join(SLOT_COLUMNS)}")
            if isinstance(value, bool) != (slot in BOOLEAN_SLOTS):
                kind = "true or false" if slot in BOOLEAN_SLOTS else "text"
                raise ValueError(f"slot {slot!r} expects {kind}")
        return self

    def written(self, name: str) -> bool:
        return name in self.model_fields_set


class Scenario(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
    description: Text
    turns: tuple[Turn, ...] = Field(min_length=1)
    expect: Expectations

    def scripted_calls(self, *, parallel: bool = False) -> int:
        """Model calls the scripted model answers: one per scripted reply, after merging."""
        return sum(len(turn.replies(parallel=parallel)) for turn in self.turns)

    @property
    def expected_tools(self) -> tuple[str, ...]:
        """`expect.tools`, or every tool the turns script, in order of first use."""
        if self.expect.tools is not None:
            return self.expect.tools
        names = (
            call.name
            for turn in self.turns
            for reply in turn.scripted
            for call in reply.tool_calls or ()
        )
        return tuple(dict.fromkeys(names))

    @model_validator(mode="after")
    def _model_calls_match_script(self) -> Scenario:
        # Against the scripted model every scripted reply is one model call; a different
        # count means the scenario contradicts itself.
        expected = self.expect.model_calls
        scripted = self.scripted_calls()
        if expected is not None and expected != scripted:
            raise ValueError(f"expect.model_calls is {expected} but the turns script {scripted}")
        return self


class _ScenarioFile(_Strict):
    scenarios: tuple[Scenario, ...] = Field(min_length=1)


def load_scenarios(folder: Path = SCENARIOS_DIR) -> tuple[Scenario, ...]:
    """Every scenario under `folder`, files in name order; ids are unique across files."""
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise ScenarioError(f"{folder}: no scenario files (*.yaml)")
    scenarios: list[Scenario] = []
    for path in paths:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            scenarios += _ScenarioFile.model_validate(raw).scenarios
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path.name}: not valid YAML ({exc})") from exc
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise ScenarioError(f"{path.name}: {details}") from exc
    seen: set[str] = set()
    for scenario in scenarios:
        if scenario.id in seen:
            raise ScenarioError(f"scenario id {scenario.id!r} is used twice")
        seen.add(scenario.id)
    return tuple(scenarios)
