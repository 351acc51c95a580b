"""Fetching media the providers point us at: SSRF-safe download, type sniffing, duration."""
