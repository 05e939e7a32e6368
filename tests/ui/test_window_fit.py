"""Runs each check of `window_fit_checks.py` in a fresh process of its own (they restyle the application, see
`test_theme.py`)."""
import pytest

from tests.ui import window_fit_checks
from tests.ui.helpers import run_alone

CHECKS = sorted(name for name in dir(window_fit_checks) if name.startswith("test_"))


@pytest.mark.parametrize("check", CHECKS)
def test_window_fit_check_in_its_own_process(check, tmp_path):
    run_alone(window_fit_checks, check, tmp_path)
