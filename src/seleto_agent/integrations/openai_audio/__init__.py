"""OpenAI's audio API (speech-to-text for voice notes)."""
