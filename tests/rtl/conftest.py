"""The RTL tests share the root conftest's ``icarus`` fixture (a missing Icarus fails in CI, skips elsewhere)."""
