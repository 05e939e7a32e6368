"""A form built from an engine's config fields: one editor per field, its help text as the tooltip; the settings a
person decides first, in plain words with their help, the rest under a collapsed "Advanced" group."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel,
                               QLineEdit, QSpinBox, QVBoxLayout, QWidget)
from superqt import QCollapsible

from studio.ui.theme import set_role
from studio.workers.config_fields import FieldSpec

INT_MAX = 2**31 - 1


class NumberSpinBox(QDoubleSpinBox):
    """A float spin box that shows 0.0001 as 1e-04 rather than 0.00 (learning rates, KL coefficients)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(-1e12, 1e12)
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:
        return float(text)

    def validate(self, text: str, pos: int) -> object:
        try:
            float(text)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            return QValidator.State.Intermediate, text, pos


class ConfigForm(QWidget):
    """Editors for `FieldSpec`s: spin boxes for numbers, check boxes for switches, a list for a choice of words,
    a line for optional values and for other words. The basic settings come first, each with its help below it;
    the others are under "Advanced"."""

    def __init__(self, specs: Sequence[FieldSpec], parent: QWidget | None = None):
        super().__init__(parent)
        basic, more = QFormLayout(), QFormLayout()
        self.editors: dict[str, tuple[FieldSpec, QWidget]] = {}
        for spec in specs:
            editor = _editor(spec)
            unset = "automatic (half-checked)" if spec.type is bool else "none"
            tip = f"{spec.help}\n\nDefault: {unset if spec.default is None else spec.default}".strip()
            tip += f"\nSetting: {spec.name}" if spec.basic else ""
            label = QLabel(spec.title, wordWrap=True)
            for widget in (label, editor):
                widget.setToolTip(tip)
            editor.setObjectName(spec.name)
            (basic if spec.basic else more).addRow(label, editor)
            if spec.basic:
                help_label = QLabel(spec.help, wordWrap=True)
                set_role(help_label, "muted")
                basic.addRow(help_label)
            self.editors[spec.name] = (spec, editor)
        self.advanced = QCollapsible("Advanced")
        self.advanced.setDuration(0)
        advanced = QWidget()
        advanced.setLayout(more)
        self.advanced.addWidget(advanced)
        self.advanced.setVisible(more.rowCount() > 0)
        layout = QVBoxLayout(self)
        layout.addLayout(basic)
        layout.addWidget(self.advanced)
        layout.addStretch(1)

    def values(self) -> dict:
        """{field name: value}; an optional field left empty is None."""
        return {name: _value(editor) for name, (_, editor) in self.editors.items()}

    def set_values(self, values: dict) -> None:
        for name, value in values.items():
            if name in self.editors:
                _set(self.editors[name][1], value)


def _editor(spec: FieldSpec) -> QWidget:
    if spec.choices:
        editor = QComboBox()
        editor.addItems(list(spec.choices))
    elif spec.type is bool:
        editor = QCheckBox()
        editor.setTristate(spec.default is None)  # half-checked: unset, the engine decides
    elif spec.type is int:
        editor = QSpinBox()
        editor.setRange(0, INT_MAX)
    elif spec.type is float:
        editor = NumberSpinBox()
    elif spec.type is str:  # a named choice, e.g. GRPO's loss_type: the config's `validate` names the choices
        editor = QLineEdit()
        editor.setProperty("words", True)
    else:  # an optional number whose default is None
        editor = QLineEdit()
        editor.setPlaceholderText("none")
    _set(editor, spec.default)
    return editor


def _set(editor: QWidget, value: object) -> None:
    if isinstance(editor, QComboBox):
        editor.setCurrentText(str(value))
    elif isinstance(editor, QCheckBox):
        editor.setCheckState(Qt.CheckState.PartiallyChecked if value is None and editor.isTristate()
                             else Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
    elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        editor.setValue(value)
    else:
        editor.setText("" if value is None else str(value))


def _value(editor: QWidget) -> object:
    if isinstance(editor, QComboBox):
        return editor.currentText()
    if isinstance(editor, QCheckBox):
        state = editor.checkState()
        return None if state == Qt.CheckState.PartiallyChecked else state == Qt.CheckState.Checked
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.value()
    text = editor.text().strip()
    if editor.property("words"):
        return text
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        name = editor.objectName().replace("_", " ")
        raise ValueError(f"{name} must be a number or left empty, got {text!r}") from None
