"""Configuration models: validation only, no side effects."""
