"""The Rank page's "Generate answers" box: which model writes the answers, how many per prompt, for how many
prompts, and how long; the page runs the generation itself (it shows the comparisons as they arrive)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QPushButton, QSpinBox

from studio.core.answer_length import default_answer_tokens
from studio.core.run_kinds import kinds
from studio.ui.settings import remember_spin

if TYPE_CHECKING:
    from studio.ui.context import StudioContext


class GeneratePanel(QGroupBox):
    """The generation settings; Generate calls `generate(prompts)`. With `remember`, the settings are kept per
    project (a labelling pack generates nothing: nothing to remember)."""

    def __init__(self, ctx: StudioContext, generate: Callable[[int], object], remember: bool = True):
        super().__init__("Generate answers")
        self.ctx = ctx
        self.policy = QComboBox(toolTip="Which model writes the answers: the base model or a finished run")
        self.k_spin = QSpinBox(minimum=2, maximum=4, value=2,
                               toolTip="Answers per prompt (K): more answers give more preference pairs per read")
        self.count_spin = QSpinBox(minimum=1, maximum=500, value=10,
                                   toolTip="How many prompts without answers to generate for now")
        self.tokens_spin = QSpinBox(minimum=0, maximum=2048, singleStep=16, value=0,
                                    specialValueText=f"Auto ({default_answer_tokens('cpu')} on a CPU)",
                                    toolTip="The longest answer, in tokens (a token is about ¾ of a word); "
                                            "shorter answers are generated faster. An answer still going at "
                                            "this length ends at its last whole sentence. Auto: "
                                            f"{default_answer_tokens('cpu')} on a CPU (a first comparison in "
                                            f"seconds), {default_answer_tokens('cuda')} on a GPU")
        if remember:
            for spin, name in ((self.k_spin, "rank/answers_per_prompt"), (self.count_spin, "rank/prompts"),
                               (self.tokens_spin, "rank/answer_tokens")):
                remember_spin(spin, ctx.project.root, name)
        ctx.model_changed.connect(self._on_model)
        button = QPushButton("Generate", toolTip="Generate answers in the background; you can keep ranking")
        button.clicked.connect(lambda: generate(self.count_spin.value()))
        form = QFormLayout(self)
        form.addRow("Model", self.policy)
        form.addRow("Answers per prompt", self.k_spin)
        form.addRow("Prompts", self.count_spin)
        form.addRow("Answer length", self.tokens_spin)
        form.addRow(button)

    def _on_model(self, info: dict) -> None:
        """Name the automatic answer length for the device the model landed on."""
        device = str(info.get("device", "cpu"))
        self.tokens_spin.setSpecialValueText(f"Auto ({default_answer_tokens(device)} on {device})")

    def refresh_policies(self) -> None:
        """The base model and every finished run that makes a policy, keeping the current choice."""
        current = self.policy.currentData()
        self.policy.blockSignals(True)
        self.policy.clear()
        self.policy.addItem("Base model", "base")
        for run in self.ctx.store.runs():
            if run.kind in kinds(makes_policy=True) and run.status == "finished":
                self.policy.addItem(f"Run {run.id} ({run.kind.upper()})", str(run.id))
        self.policy.setCurrentIndex(max(0, self.policy.findData(current)))
        self.policy.blockSignals(False)
