"""Reward-hacking monitor: watches an online engine's metric stream and raises named alarms.

Engine-agnostic: it only reads per-round metrics by name (`reward`, `kl`, `entropy`,
`response_length`, `reward_length_corr`, `distinct_2`, `ensemble_disagreement`); a signal whose
metrics never arrive stays silent. Each signal raises at most one alarm per run, naming the round
the trouble began and what to do about it. The thresholds follow the issue's rules of thumb:

- kl: reward rising while KL stays above twice its target for `window` rounds in a row;
- entropy: entropy below a third of its first value;
- length: the reward follows answer length rather than content: the per-round correlation of
  reward and length (inside a round) above 0.5 for `window` rounds, or, across rounds, reward and
  mean length rising together (r >= 0.8 over the last `trend` rounds, length up by a fifth or more);
- repetition: distinct bigrams per answer fall below 70% of their start while the reward rises;
- ensemble: the reward models of an ensemble disagree more as the reward rises (r >= 0.8 over
  `trend` rounds, disagreement up by half or more).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from studio.core.rm_health import pearson
from studio.core.run_kinds import KINDS

SIGNALS = ("kl", "entropy", "length", "repetition", "ensemble")


@dataclass(frozen=True)
class Alarm:
    signal: str
    began: int        # the round the trouble began
    raised: int       # the round it was detected
    message: str
    action: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MonitorSettings:
    target_kl: float | None = None   # None: the KL rule is off (no target to compare with)
    window: int = 3
    trend: int = 5
    entropy_fraction: float = 1 / 3
    length_corr: float = 0.5
    trend_corr: float = 0.8
    length_growth: float = 0.2
    distinct_fraction: float = 0.7
    disagreement_growth: float = 0.5


class HackingMonitor:
    """Feed it `observe(round, metrics)` once per round; it returns the alarms raised by that round."""

    def __init__(self, settings: MonitorSettings | None = None):
        self.settings = settings or MonitorSettings()
        self.rounds: list[int] = []
        self.history: dict[str, list[float | None]] = {}
        self.alarms: list[Alarm] = []

    def observe(self, round_: int, metrics: dict[str, float]) -> list[Alarm]:
        self.rounds.append(round_)
        for name in set(self.history) | set(metrics):
            self.history.setdefault(name, [None] * (len(self.rounds) - 1)).append(_finite(metrics.get(name)))
        fired = {a.signal for a in self.alarms}
        new = [alarm for signal in SIGNALS if signal not in fired
               for alarm in [getattr(self, f"_check_{signal}")()] if alarm is not None]
        self.alarms += new
        return new

    def observe_all(self, stream: Iterable[tuple[int, dict[str, float]]]) -> list[Alarm]:
        for round_, metrics in stream:
            self.observe(round_, metrics)
        return self.alarms

    # -- the rules ---------------------------------------------------------------------------------------
    def _series(self, name: str) -> list[float | None]:
        return self.history.get(name, [None] * len(self.rounds))

    def _alarm(self, signal: str, began_index: int, message: str, action: str) -> Alarm:
        return Alarm(signal, self.rounds[began_index], self.rounds[-1], message, action)

    def _check_kl(self) -> Alarm | None:
        s, n = self.settings, self.settings.window
        if s.target_kl is None or len(self.rounds) < n:
            return None
        kl, reward = self._series("kl")[-n:], self._series("reward")[-n:]
        if None in kl or None in reward or any(k <= 2 * s.target_kl for k in kl) or not _rising(reward):
            return None
        return self._alarm("kl", len(self.rounds) - n,
                           f"reward keeps rising while KL ({kl[-1]:.1f} nats) has stayed above twice its target "
                           f"({s.target_kl:g}) for {n} rounds: the policy may be exploiting the reward model",
                           "read the latest samples; raise the KL coefficient (init_kl_coef) or lower the "
                           "learning rate, or stop and keep an earlier checkpoint")

    def _check_entropy(self) -> Alarm | None:
        values = [v for v in self._series("entropy") if v is not None]
        if len(values) < 2 or values[0] <= 0 or values[-1] >= values[0] * self.settings.entropy_fraction:
            return None
        return self._alarm("entropy", len(self.rounds) - 1,
                           f"entropy fell to {values[-1]:.3g}, below a third of its start ({values[0]:.3g}): "
                           "the policy is collapsing onto a few answers",
                           "raise the KL coefficient or the temperature, lower the learning rate, or stop here")

    def _check_length(self) -> Alarm | None:
        s = self.settings
        inside = self._series("reward_length_corr")[-s.window:]
        if len(inside) == s.window and None not in inside and all(c > s.length_corr for c in inside):
            return self._alarm("length", len(self.rounds) - s.window,
                               f"within each round the reward follows answer length (r > {s.length_corr:g} "
                               f"for {s.window} rounds): the reward model may prize length over content",
                               "check the reward model's length correlation (rm-report); add rankings where "
                               "the shorter answer wins, or cap max_new_tokens")
        length = self._trend("response_length", s.trend_corr)
        if length is None or length[0] <= 0 or length[-1] < length[0] * (1 + s.length_growth):
            return None
        return self._alarm("length", len(self.rounds) - s.trend,
                           f"reward rises in step with answer length ({length[0]:.0f} -> {length[-1]:.0f} tokens "
                           f"over {s.trend} rounds): the policy may be padding answers to please the reward model",
                           "read the samples; add rankings where the shorter answer wins, or cap max_new_tokens")

    def _check_repetition(self) -> Alarm | None:
        values = [v for v in self._series("distinct_2") if v is not None]
        rewards = [v for v in self._series("reward") if v is not None]
        if len(values) < 2 or len(rewards) < 2 or values[0] <= 0:
            return None
        if values[-1] >= values[0] * self.settings.distinct_fraction or rewards[-1] <= rewards[0]:
            return None
        return self._alarm("repetition", len(self.rounds) - 1,
                           f"answers repeat themselves (distinct bigrams {values[0]:.2f} -> {values[-1]:.2f}) "
                           "while the reward rises: the reward model may like repetition",
                           "read the samples; rank repetitive answers last, raise the KL coefficient")

    def _check_ensemble(self) -> Alarm | None:
        trend = self._trend("ensemble_disagreement", self.settings.trend_corr)
        if trend is None or trend[0] <= 0 or trend[-1] < trend[0] * (1 + self.settings.disagreement_growth):
            return None
        return self._alarm("ensemble", len(self.rounds) - self.settings.trend,
                           f"the reward models disagree more as the reward rises ({trend[0]:.3g} -> "
                           f"{trend[-1]:.3g}): the policy is moving where the reward model is unsure",
                           "rank samples from the latest round (gold check) and retrain the reward model")

    def _trend(self, name: str, min_corr: float) -> list[float] | None:
        """The last `trend` values of `name` when they rise with a rising reward (r >= min_corr), else None."""
        n = self.settings.trend
        values, reward = self._series(name)[-n:], self._series("reward")[-n:]
        if len(values) < n or None in values or None in reward or not _rising(reward):
            return None
        r = pearson(reward, values)
        return values if r is not None and r >= min_corr else None


def _rising(values: list[float]) -> bool:
    """Least-squares slope above zero."""
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    return sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) > 0


def _finite(value: object) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def monitor_for(kind: str, config: dict) -> HackingMonitor | None:
    """A monitor for an online run (PPO and any engine that reports a KL target), None for offline kinds."""
    if kind in KINDS and not KINDS[kind].online:
        return None
    target = config.get("target_kl")
    return HackingMonitor(MonitorSettings(target_kl=float(target) if target else None))
