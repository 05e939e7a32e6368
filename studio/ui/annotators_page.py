"""The Annotators page: who labelled how much, how far people agree with each other (Krippendorff's
alpha, rankings and ratings apart), with themselves (unannounced repeats of rankings and ratings) and with
the reward model, how fast they go, and how far each rule or AI labeller agrees with each person.

The figures come from `studio.core.agreement.annotator_report`, computed in a background job (it
reads every label), whenever the page is shown or the labels change while it is visible.
"""
from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from studio.core.agreement import annotator_report
from studio.ui.context import StudioContext
from studio.workers.job import Job

ANNOTATOR_COLUMNS = [
    ("Annotator", "Who labelled", lambda a: a["name"]),
    ("Rankings", "Comparisons ranked, skipped or marked all bad", lambda a: a["rankings"]),
    ("Ratings", "Answers rated good or bad", lambda a: a["ratings"]),
    ("Self-consistency", "How often a comparison shown again later, shuffled and unannounced, got the same best "
                         "answer as the first time, or an answer rated again the same rating (of how many)",
     lambda a: _share(a["self_consistency"], a["self_repeats"])),
    ("With reward model", "How often the reward model's guess, made before the comparison was ranked, is among "
                          "the annotator's best answers (of how many)",
     lambda a: _share(a["reward_model_agreement"], a["reward_model_n"])),
    ("Labels per hour", "Labels per hour of labelling (pauses over 5 minutes not counted)",
     lambda a: "–" if a["labels_per_hour"] is None else f"{a['labels_per_hour']:.0f}"),
]
PAIR_COLUMNS = ["Annotator", "Annotator", "Labels", "Shared items", "Alpha"]
MACHINE_COLUMNS = ["Labeller", "Person", "Labels", "Shared items", "Alpha"]


def _share(value: float | None, n: int) -> str:
    return "–" if value is None else f"{value:.0%} of {n}"


def _alpha(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _table(headers: list[str], tips: list[str] | None = None) -> QTableWidget:
    table = QTableWidget(0, len(headers), editTriggers=QTableWidget.EditTrigger.NoEditTriggers)
    table.setHorizontalHeaderLabels(headers)
    for column, tip in enumerate(tips or []):
        table.horizontalHeaderItem(column).setToolTip(tip)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().hide()
    return table


def _fill(table: QTableWidget, rows: list[list[object]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(str(value)))


class AnnotatorsPage(QWidget):
    """Counts, agreement and pace per person; alpha per pair of people, and per machine labeller and person."""

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.report: dict | None = None
        self._job: Job | None = None
        self._stale = False
        self._seen: tuple | None = None  # the label state the report was last computed for
        self.alpha = QLabel(wordWrap=True, toolTip="Krippendorff's alpha, ordinal: 1 = full agreement, "
                                                   "0 = no better than chance, below 0 = systematic disagreement")
        self.annotators = _table([c[0] for c in ANNOTATOR_COLUMNS], [c[1] for c in ANNOTATOR_COLUMNS])
        self.pairs = _table(PAIR_COLUMNS)
        self.pairs.setToolTip("Alpha of each pair of people over the items both labelled")
        self.machines = _table(MACHINE_COLUMNS)
        self.machines.setToolTip("Alpha of each rule or AI labeller against each person over the items both "
                                 "labelled (machine labels never count in the alpha between people)")
        layout = QVBoxLayout(self)
        layout.addWidget(self.alpha)
        layout.addWidget(QLabel("<b>Annotators</b>"))
        layout.addWidget(self.annotators, 2)
        layout.addWidget(QLabel("<b>Pairs</b>"))
        layout.addWidget(self.pairs, 1)
        layout.addWidget(QLabel("<b>Rule and AI labellers against people</b>"))
        layout.addWidget(self.machines, 1)
        ctx.data_changed.connect(self._labels_changed)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def _labels_changed(self) -> None:
        # data_changed also fires whenever any job ends, this page's own included: recompute only when the
        # labels changed, or the report would be recomputed over and over while the page is shown
        if self.isVisible() and self._label_state() != self._seen:
            self.refresh()

    def _label_state(self) -> tuple:
        """(count, last id) of the rankings, the ratings and the repeats of both: a cheap sign that labels
        changed."""
        db = self.ctx.store.db
        return tuple(value for table in ("rankings", "ratings", "repeats", "rating_repeats")
                     for value in db.execute(f"SELECT COUNT(*), MAX(id) FROM {table}").fetchone())

    def refresh(self) -> Job | None:
        """Recompute the report in the background (once more afterwards if asked again meanwhile)."""
        if self._job is not None:
            self._stale = True
            return None
        self._seen = self._label_state()
        self.alpha.setText(self.alpha.text() or "Computing agreement…")
        job = self.ctx.run(lambda jc: annotator_report(jc.project.store), needs_model=False)
        job.finished.connect(self.show_report)
        job.failed.connect(lambda _text: self._ended())
        job.cancelled.connect(self._ended)
        self._job = job
        job.start()
        return job

    def _ended(self) -> None:
        self._job = None

    def show_report(self, report: dict) -> None:
        self._job = None
        self.report = report
        alpha = report["alpha"]
        self.alpha.setText(f"<b>Krippendorff's alpha</b> between people (ordinal): "
                           f"rankings {_alpha(alpha['rankings'])} · ratings {_alpha(alpha['ratings'])}"
                           + ("" if report["annotators"] else " — no labels yet"))
        _fill(self.annotators, [[get(a) for _, _, get in ANNOTATOR_COLUMNS] for a in report["annotators"]])
        for table, rows in ((self.pairs, report["pairs"]), (self.machines, report["machines"])):
            _fill(table, [[p["a"], p["b"], p["kind"], p["shared"], _alpha(p["alpha"])] for p in rows])
        if self._stale:
            self._stale = False
            self.refresh()
