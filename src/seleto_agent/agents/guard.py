"""The output guardrail as an Agno post-hook: a reply that breaks a rule ends its run as ERROR.

AGNO_NOTES §3: raising `OutputCheckError` marks the run ERROR (so it is left out of the
session history) but leaves the rejected text in `content`; the runner therefore looks the run
up here by id and never sends its content.
"""

from __future__ import annotations

from agno.exceptions import CheckTrigger, OutputCheckError
from agno.run.agent import RunOutput

from seleto_agent.domain.guardrails import Violation, check_reply
from seleto_agent.observability.metrics import GUARDRAIL_BLOCKS


class ReplyGuard:
    def __init__(self, *, max_questions: int = 2) -> None:
        self._max_questions = max_questions
        self._blocked: dict[str, tuple[Violation, ...]] = {}

    def check(self, run_output: RunOutput) -> None:
        text = run_output.get_content_as_string() if run_output.content is not None else ""
        violations = check_reply(text or "", max_questions=self._max_questions)
        if not violations:
            return
        self._blocked[run_output.run_id or ""] = violations
        for violation in violations:
            GUARDRAIL_BLOCKS.labels(violation.kind.value).inc()
        raise OutputCheckError(
            "reply blocked: " + ", ".join(sorted({v.kind.value for v in violations})),
            check_trigger=CheckTrigger.OUTPUT_NOT_ALLOWED,
        )

    def take(self, run_id: str) -> tuple[Violation, ...]:
        """The violations that blocked this run (empty when it was not blocked)."""
        return self._blocked.pop(run_id, ())
