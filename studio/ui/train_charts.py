"""What the Train page draws for each kind of run, the help on each chart, and a run's headline figures;
every eval figure carries the held-out size it rests on (recorded with it by the engine)."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel

from studio.core.held_out import data_size, held_out, held_out_note, recorded_split, size_text
from studio.core.records import Run
from studio.core.rm_health import checked_text
from studio.core.run_kinds import run_kind
from studio.core.store import Store
from studio.ui.plots import Group, MetricsBoard

CHART_HELP = {
    "loss": "What training minimises; it should fall. eval_loss is measured on held-out examples: if it rises "
            "while loss falls, the model is memorising.",
    "accuracy": "How often the preferred response scores higher than the other one (0.5 = chance).",
    "margin": "Average score gap between the preferred and the other response.",
    "implicit rewards": "How much more (or less) likely DPO or KTO made the preferred (good) and the rejected "
                        "(bad) responses than the reference model did.",
    "KL reference point": "KTO's estimate of how far the policy has drifted from the reference, from answers "
                          "paired with other prompts; good answers must gain more than this, bad ones less.",
    "reward": "Mean reward-model score of the policy's answers (normalised: 0 = the starting policy). Rising "
              "is good, unless the samples below turn into gibberish that games the reward model.",
    "KL": "KL divergence: how far the policy's answers have drifted from the reference (SFT) model, in nats "
          "per answer; a fast climb is a warning sign of reward hacking. It is estimated on the policy's own "
          "answers as the sum over their tokens of log p(policy) − log p(reference): on average that equals "
          "the true KL, which is never below 0, but one batch's estimate can dip a little below 0 by chance, "
          "most often early on, when the two models still agree.",
    "beta": "The price per unit of KL subtracted from the reward. With adaptive KL it rises when KL is above "
            "the target and falls when below.",
    "entropy": "How spread out the policy's next-token choices are. A collapse toward 0 means it repeats "
               "one answer.",
    "value loss": "Error of the value head's estimate of future reward; it should settle.",
    "clip fraction": "Share of tokens whose probability change hit the clip range in an update. Above ~0.3 "
                     "the updates are too big (lower the learning rate).",
    "response length": "Average answer length in tokens. A steady climb to the limit often means the reward "
                       "model likes long answers.",
    "policy loss": "PPO's clipped objective (negated). Noisy by nature; watch reward and KL instead.",
    "distinct bigrams": "Share of word pairs in each answer that are not repeats (1 = none repeated). A fall while "
                        "the reward rises means the policy found that repeating itself pleases the reward model.",
    "reward-model disagreement": "How much the reward model's ensemble (5 heads refitted on resamples of the "
                                 "labels) disagrees about this round's answers: the spread of their normalised "
                                 "scores. A climb while the reward rises means the policy is heading where the "
                                 "labels say little, so the reward there can be gamed. Empty when the reward "
                                 "model has no ensemble (fewer than 4 pairs). uncertainty_penalty: what the "
                                 "cautious reward (setting uncertainty_penalty) takes off the mean score.",
    "outside the labels' reach": "Share of this round's answers past what your labels cover: shorter than "
                                 "every answer you preferred, more non-words than any of them, or a loop "
                                 "where you never ranked a loop first. With stay_in_reach they score no "
                                 "higher than the reward model's lowest training score; a share that stays "
                                 "up means the policy keeps trying to leave (label some of its answers: a "
                                 "round). Empty for a reward model trained before the studio saved its "
                                 "reach.",
    "learning rate": "Step size of the optimiser (warm-up, then cosine decay).",
    "gradient norm": "Size of each update before clipping; spikes mean unstable training.",
    "tokens per second": "Training speed.",
    "samples per second": "Training speed: responses written, scored and learned from per second.",
}
def chart_help(kind: str, title: str) -> str:
    """The help of chart `title`: the studio's for a chart several kinds draw, else `kind`'s own."""
    return CHART_HELP.get(title) or dict(run_kind(kind).chart_help).get(title, "")


def groups(kind: str) -> list[Group]:
    """The charts the Train page draws for a run of `kind`, as the run-kind registry lists them."""
    return [(title, list(series)) for title, series in run_kind(kind).charts]


def eval_suffix(kind: str, split: tuple[int, int] | None) -> str:
    """What follows an eval figure's name, e.g. " (1 held-out prompt)"; nothing when the size is not known."""
    return f" ({size_text(kind, split[0])})" if split is not None else ""


def label_eval_series(board: MetricsBoard, kind: str, split: tuple[int, int] | None, note: str) -> None:
    """Name each eval curve in its legend with the held-out size, and add `note` to those charts' tooltips."""
    for plot in board.plots:
        evals = [name for name in plot.names if name.startswith("eval_")]
        for name in evals:
            plot.set_label(name, name + eval_suffix(kind, split))
        help_text = chart_help(kind, plot.title)
        plot.setToolTip(f"{help_text}\n\n{note}" if evals and note else help_text)


def summary(run: Run, limit: int = 3, prefix: str = "") -> str:
    """The run's headline final metrics, e.g. "accuracy 0.75 · eval_accuracy 0 (1 held-out prompt) · loss 0.6"; a
    checked reward run's accuracy is its health report's: "held-out accuracy 0.91 (11 pairs) · loss 0.6"."""
    metrics, split = run.final_metrics, recorded_split(run.final_metrics)
    checked = checked_text(metrics)
    names = [name for name in run_kind(run.kind).headline if name in metrics and not (checked and "accuracy" in name)]
    parts = ([checked] if checked else []) + [
        f"{name} {metrics[name]:.3g}" + (eval_suffix(run.kind, split) if name.startswith("eval_") else "")
        for name in names]
    text = " · ".join(parts[:limit])
    return prefix + text if text else ""


class EvalNote(QLabel):
    """Beside the charts: how many held-out examples the eval figures rest on, also in the eval curves' legends
    and tooltips. The size is the run's own record once it has one, else the split of the data as it is now."""

    def __init__(self, board: MetricsBoard):
        super().__init__(wordWrap=True, toolTip="How many held-out examples the eval_ figures are measured on; "
                                                "with few, they swing by chance.")
        self.board = board
        self.split: tuple[int, int] | None = None  # (held out, total) as the run recorded it

    def take_split(self, values: dict[str, float]) -> bool:
        """Keep the held-out size of metrics that carry it (an eval step, or a run's last); True if it changed."""
        split = recorded_split(values)
        changed = split is not None and split != self.split
        if changed:
            self.split = split
        return changed

    def show_for(self, store: Store, kind: str, fraction: float | None) -> None:
        note = ""
        if fraction is not None:
            if self.split is None:
                total = data_size(store, kind)
                held = held_out(total, fraction)
            else:
                held, total = self.split
            note = held_out_note(kind, held, total, fraction)
        self.setText(note)
        self.setVisible(bool(note))
        label_eval_series(self.board, kind, self.split, note)
