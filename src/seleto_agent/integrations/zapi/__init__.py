"""zapi package."""
