"""Loads the versioned system prompt from `prompts/`; no prompt text lives in Python."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Prompt:
    prompt_id: str
    version: str
    sections: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.prompt_id}@{self.version}"


class PromptError(ValueError):
    pass


def load_prompt(path: Path) -> Prompt:
    """Each top-level element becomes one instruction; `<regras>` children become one each."""
    root = ET.parse(path).getroot()  # noqa: S314 - trusted file shipped with the code
    prompt_id, version = root.get("id"), root.get("version")
    if not prompt_id or not version:
        raise PromptError(f"{path.name}: <prompt> needs id and version attributes")
    sections: list[str] = []
    for element in root:
        children = list(element)
        texts = [_clean(child.text) for child in children] if children else [_clean(element.text)]
        sections.extend(text for text in texts if text)
    if not sections:
        raise PromptError(f"{path.name}: prompt has no text")
    return Prompt(prompt_id=prompt_id, version=version, sections=tuple(sections))


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())
