"""Shared helpers for the page tests."""


def show(qtbot, widget):
    """Register, show and activate `widget` so that its keyboard shortcuts work."""
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)
    return widget
