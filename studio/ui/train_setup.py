"""The Train page's setup of a new run: the kind, its settings form (remembered per project), whether the project's
data lets it start, and, for kinds that start from a policy, the policy to start from and the reward model.
`TrainPage` runs and shows the runs."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QPlainTextEdit, QScrollArea, QVBoxLayout, QWidget

from studio.core.ratings import Ratings
from studio.core.reach import FILE as REACH_FILE
from studio.core.records import Run
from studio.core.reward_terms import TERMS_KEY, Term, terms_for_run, uses_reward_model
from studio.core.run_kinds import KINDS, REWARD, SFT, run_kind
from studio.ui.config_form import ConfigForm
from studio.ui.context import StudioContext
from studio.ui.settings import project_value
from studio.ui.train_charts import summary
from studio.workers.config_fields import config_fields


class TrainSetup(QWidget):
    """What the next run will be; `kind_changed` fires with the kind's name once its form is in place."""

    kind_changed = Signal(str)

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.kind = QComboBox()
        for kind in KINDS.values():
            self.kind.addItem(kind.title, kind.name)
        self.form_area = QScrollArea(widgetResizable=True)
        self.form: ConfigForm | None = None
        self.init_combo = QComboBox(toolTip="The policy to start from. PPO, DPO, RLOO and KTO normally start from "
                                            "the SFT model, which also serves as the reference the KL is measured against.")
        self.reward_combo = QComboBox(toolTip="The reward model whose scores PPO or RLOO maximises.")
        sources = QFormLayout()
        sources.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # each choice gets the full width
        sources.addRow("Start from", self.init_combo)
        sources.addRow("Reward model", self.reward_combo)
        self.terms = QPlainTextEdit(placeholderText="rm", toolTip="The reward's terms, one per line: "
                                    "[WEIGHT*]TERM, e.g. 0.5*rm, rule:shorter:200, 2*rule:number (against the "
                                    "prompts' reference answers), judge:PRINCIPLE. Empty: the reward model alone. "
                                    "Each term is plotted as reward/<term>.")
        self.terms.setMaximumHeight(72)
        sources.addRow("Reward terms", self.terms)
        self.sources = QWidget()
        self.sources.setLayout(sources)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.form_area, 1)
        layout.addWidget(self.sources)

        remembered = project_value(ctx.project.root, "train/kind")
        if remembered in KINDS:
            self.set_kind(remembered)
        self._on_kind_changed()
        self.kind.currentIndexChanged.connect(self._on_kind_changed)

    @property
    def selected_kind(self) -> str:
        return self.kind.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))

    def _on_kind_changed(self) -> None:
        kind = self.selected_kind
        self.form = ConfigForm(config_fields(kind))
        saved = project_value(self.ctx.project.root, f"train/{kind}")
        if isinstance(saved, dict):
            self.form.set_values(saved)
        self.form_area.setWidget(self.form)
        spec = run_kind(kind)
        self.sources.setVisible(spec.starts_from_policy)
        for field in (self.reward_combo, self.terms):
            field.setVisible(spec.online)
            self.sources.layout().labelForField(field).setVisible(spec.online)
        self.kind_changed.emit(kind)

    def fill_choices(self, runs: list[Run]) -> None:
        """The finished SFT and reward runs to start from and to maximise, newest first."""
        _fill_combo(self.init_combo, [("Latest SFT run (base model if none)", None), ("Base model (no SFT)", "base")]
                    + [(f"SFT run {r.id}", str(r.id)) for r in reversed(runs)
                       if r.kind == SFT and r.status == "finished"])
        _fill_combo(self.reward_combo, [("Latest reward model", None)]
                    + [(self._reward_label(r), str(r.id)) for r in reversed(runs)
                       if r.kind == REWARD and r.status == "finished"])

    def _reward_label(self, run: Run) -> str:
        """"Reward run N · its accuracy", and a warning where the run keeps no reach (trained before the studio saved
        it): `stay_in_reach` then has nothing to hold the policy to. One file check a run, no model call."""
        kept = (self.ctx.project.run_folder(run.id) / REACH_FILE).exists()
        return f"Reward run {run.id}{summary(run, 1, ' · ')}" + ("" if kept else " · no reach saved: retrain it "
                                                                   "for stay_in_reach")

    def show_settings(self, run: Run) -> None:
        """Put a stored run's kind and settings in place, to start another like it."""
        self.set_kind(run.kind)
        self.form.set_values(run.config)
        self.init_combo.setCurrentIndex(max(self.init_combo.findData(run.config.get("_init")), 0))
        self.reward_combo.setCurrentIndex(max(self.reward_combo.findData(run.config.get("_reward")), 0))
        self.terms.setPlainText("\n".join(run.config.get(TERMS_KEY) or []))

    def sources_of(self, kind: str) -> tuple[str | None, str | None]:
        """(the policy to start from, the reward model) chosen for a `kind` run; None where the kind takes none."""
        spec = run_kind(kind)
        return (self.init_combo.currentData() if spec.starts_from_policy else None,
                self.reward_combo.currentData() if spec.online else None)

    def reward_terms(self) -> list[Term] | None:
        """The checked terms of the "Reward terms" field (`core.reward_terms`; None when it is empty: the reward
        model alone); ValueError with one line for a term that cannot be read or a reference answer missing."""
        texts = [line for line in self.terms.toPlainText().splitlines() if line.strip()]
        return terms_for_run(self.ctx.store, texts, one_answer=self._one_answer()) if texts else None

    def _one_answer(self) -> bool:
        """Whether the kind writes one answer per prompt (PPO), so that a judge term compares with references."""
        return "samples_per_prompt" not in {f.name for f in config_fields(self.selected_kind)}

    def eval_fraction(self) -> float | None:
        """The held-out share the form asks for (None for a kind that holds nothing out)."""
        editor = self.form.editors.get("eval_fraction")
        return editor[1].value() if editor else None

    def missing_data(self, kind: str, terms: list | None = None) -> str:
        """Why a `kind` run cannot start on this project's data ("" when it can)."""
        spec = run_kind(kind)
        if spec.needs:
            counts = {**self.ctx.store.counts(), **Ratings(self.ctx.store).counts()}
            return "" if any(counts[name] for name in spec.learns_from.counts) else spec.needs
        if spec.online and self.reward_combo.count() <= 1 and (terms is None or uses_reward_model(terms)):
            return f"Train a reward model first: {kind.upper()} maximises its score."
        return ""


def _fill_combo(combo: QComboBox, items: list[tuple[str, str | None]]) -> None:
    """Replace the items, keeping the current choice when it is still there."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for label, data in items:
        combo.addItem(label, data)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    combo.blockSignals(False)
