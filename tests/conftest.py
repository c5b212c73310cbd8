"""Test-wide settings: hypothesis runs derandomised so every run checks the same cases."""

from hypothesis import HealthCheck, settings

settings.register_profile("default", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")
