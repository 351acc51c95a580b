"""Loads the versioned system prompt and fixed replies; no prompt text lives in Python."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TEMPLATE_USE = "modelo"


@dataclass(frozen=True, slots=True)
class Prompt:
    prompt_id: str
    version: str
    sections: tuple[str, ...]
    # Texts the code fills in (lead context, corrective notes), keyed by element name;
    # a list element's items are keyed `<element>.<tipo>`.
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.prompt_id}@{self.version}"

    def template(self, name: str) -> str:
        try:
            return self.templates[name]
        except KeyError:
            raise PromptError(f"template {name!r} is not in prompt {self.label}") from None


class PromptError(ValueError):
    pass


def load_prompt(path: Path, *, required_templates: frozenset[str] = frozenset()) -> Prompt:
    """Each top-level element becomes one instruction; `<regras>` children become one each."""
    root = ET.parse(path).getroot()  # noqa: S314 - trusted file shipped with the code
    prompt_id, version = root.get("id"), root.get("version")
    if not prompt_id or not version:
        raise PromptError(f"{path.name}: <prompt> needs id and version attributes")
    sections: list[str] = []
    templates: dict[str, str] = {}
    for element in root:
        children = list(element)
        if element.get("uso") == TEMPLATE_USE:
            if children:
                templates.update(
                    {f"{element.tag}.{child.get('tipo')}": _clean(child.text) for child in children}
                )
            else:
                templates[element.tag] = _clean_lines(element.text)
            continue
        texts = [_clean(child.text) for child in children] if children else [_clean(element.text)]
        sections.extend(text for text in texts if text)
    if not sections:
        raise PromptError(f"{path.name}: prompt has no text")
    missing = sorted(required_templates - templates.keys())
    if missing:
        raise PromptError(f"{path.name}: missing templates {', '.join(missing)}")
    return Prompt(
        prompt_id=prompt_id, version=version, sections=tuple(sections), templates=templates
    )


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _clean_lines(text: str | None) -> str:
    """Templates keep their line breaks (one fact per line), without the XML indentation."""
    lines = (" ".join(line.split()) for line in (text or "").strip().splitlines())
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class FixedReplies:
    """Lead-facing texts sent without the model, keyed by the situation that calls for them."""

    replies_id: str
    version: str
    texts: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.replies_id}@{self.version}"

    def get(self, key: str) -> str:
        try:
            return self.texts[key]
        except KeyError:
            raise PromptError(f"fixed reply {key!r} is not in {self.label}") from None


# Every key the code asks for; checked at start-up so a missing text fails fast, not mid-turn.
REQUIRED_REPLIES = frozenset(
    {
        "guardrail_fallback",
        "lgpd_request_received",
        "audio_unusable",
        "unsupported_message",
        "model_outage_holding",
        "model_outage_handoff",
        "turn_budget_exceeded",
    }
)


def load_fixed_replies(path: Path) -> FixedReplies:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise PromptError(f"{path.name}: expected a mapping")
    replies_id, version, texts = (
        document.get("id"),
        document.get("version"),
        document.get("replies"),
    )
    if not replies_id or not version or not isinstance(texts, dict):
        raise PromptError(f"{path.name}: needs id, version and replies")
    cleaned = {str(key): _clean(str(value)) for key, value in texts.items() if value}
    missing = sorted(REQUIRED_REPLIES - cleaned.keys())
    if missing:
        raise PromptError(f"{path.name}: missing replies {', '.join(missing)}")
    return FixedReplies(replies_id=str(replies_id), version=str(version), texts=cleaned)
