"""The Qt binding keeps Python's reference count of None (PySide6 6.12.0 on Python 3.11 did not, and a long
session then aborted with "deallocating None")."""
import sys

from PySide6.QtWidgets import QLabel


def test_qt_calls_returning_nothing_leave_none_alone(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        label.setVisible(False)
    assert abs(sys.getrefcount(None) - before) < 100
