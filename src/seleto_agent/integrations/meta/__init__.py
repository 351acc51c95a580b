"""meta package: the WhatsApp Cloud API (Meta)."""
