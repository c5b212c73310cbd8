"""Test-wide settings: hypothesis runs derandomised so every run checks the same cases; the rule for a
missing simulator, written once: in CI the tests that run Verilog must run, so a missing Icarus fails
there; on a user's machine they skip with the install hint."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@pytest.fixture
def icarus() -> None:
    """Use in a test (or ``pytest.mark.usefixtures("icarus")``) that runs the Verilog under Icarus."""
    from accelsim.rtl.cocotb_run import INSTALL_HINT, simulator_available

    if not simulator_available("icarus"):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the RTL tests: {INSTALL_HINT['icarus']}", pytrace=False)
        pytest.skip(INSTALL_HINT["icarus"])
