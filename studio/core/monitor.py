"""Reward-hacking monitor: watches an online engine's metric stream and raises named alarms.

Engine-agnostic: it only reads per-round metrics by name (`reward`, `kl`, `entropy`,
`response_length`, `reward_length_corr`, `distinct_2`, `ensemble_disagreement`); a signal whose
metrics never arrive stays silent. Each signal raises at most one alarm per run, naming the round
the trouble began and what to do about it. The thresholds follow the issue's rules of thumb:

- kl: reward rising while KL stays above twice its target for `window` rounds in a row;
- entropy: entropy below a third of its first value;
- length: the reward follows answer length rather than content, in either direction: the per-round correlation
  of reward and length (inside a round) beyond +-0.5 for `window` rounds, or, across rounds, mean length rising
  or falling with the reward (|r| >= 0.8 over the last `trend` rounds, length up or down by a fifth or more);
  its advice follows the sign (a reward that prizes brevity needs rankings where the longer answer wins). Where
  the lengths of the answers the person ranked are known (`labelled_words`), it keeps quiet while the latest
  answers' median length stays inside them: a taste for brevity makes the reward follow length in healthy runs
  too, and the blind spot is answers shorter (or longer) than any the labels reach (issue 26: on the "shorter,
  never under 6 words" rule it fired on 7 of 12 healthy runs, bench/RESULTS.md section 33);
- repetition: distinct bigrams per answer fall below 70% of their start while the reward rises;
- ensemble: the reward models of an ensemble disagree more as the reward rises (r >= 0.8 over
  `trend` rounds, disagreement up by half or more);
- drift: the reference model finds the answers unlikely: KL per token (kl / response_length) at or above
  `kl_per_token` nats for `window` rounds (issue 26: about 1 nat a token on answers that lost their sense,
  several times what healthy runs spent).

The samples table (`observe_samples`, what a person reads) is watched too, over the last `window` rounds'
samples (`answer_quality`): collapse (a third of the answers under three words, or the median length in words
halved or doubled against the first `window` rounds), nonwords (a tenth of the words not word-like), repeats
(a third of the answers looping, `answer_quality.repeats_itself`), off_topic (seven in ten answers sharing no
content word with their prompt, of at least nine, and a quarter more than at the start). Those thresholds come from a corpus
of healthy and degenerate answers (tests/core/alarm_corpus.py): no false alarm on 200 healthy runs, every degenerate run
caught. Every alarm's action names the comparisons to label next: the answers that triggered it (which, how many,
the first few), each against the starting policy's answer to the same prompt; `Alarm.prompts` keeps their prompts,
which a round (`core.rounds`, the alarm's one-click action: `ROUND_SIGNALS`) samples first.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

from studio.core import answer_quality as aq
from studio.core.rm_health import pearson
from studio.core.run_kinds import KINDS

SIGNALS = ("kl", "entropy", "length", "repetition", "ensemble", "drift")
SAMPLE_SIGNALS = ("collapse", "nonwords", "repeats", "off_topic")
SHOWN = 3  # answers an alarm names as the comparisons to label next
# The alarms that labels on what the policy writes now can answer: a round offers itself on them. Not entropy: its
# fix is a setting, and a collapsed policy's answers are alike, which a round drops as teaching nothing.
ROUND_SIGNALS = frozenset(SIGNALS + SAMPLE_SIGNALS) - {"entropy"}


@dataclass(frozen=True)
class Alarm:
    signal: str
    began: int        # the round the trouble began
    raised: int       # the round it was detected
    message: str
    action: str
    # the prompts of the answers that raised it (not stored: replayed from the run's samples, `oversight_store`)
    prompts: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "prompts"}


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
    kl_per_token: float = 0.6
    short_words: int = 3
    short_share: float = 0.34
    length_ratio: float = 2.0
    nonword_share: float = 0.1
    repeat_share: float = 0.34
    off_topic_share: float = 0.7
    off_topic_rise: float = 0.25
    off_topic_answers: int = 9        # answers with a content word in their prompt that off_topic needs
    min_answers: int = 6
    labelled_words: tuple[float, float] | None = None  # the ranked answers' 5th-95th percentile length in words


class HackingMonitor:
    """Feed it `observe(round, metrics)` once per round; it returns the alarms raised by that round."""

    def __init__(self, settings: MonitorSettings | None = None):
        self.settings = settings or MonitorSettings()
        self.rounds: list[int] = []
        self.history: dict[str, list[float | None]] = {}
        self.alarms: list[Alarm] = []
        self.samples: list[tuple[int, list[dict]]] = []

    def observe(self, round_: int, metrics: dict[str, float]) -> list[Alarm]:
        self.rounds.append(round_)
        for name in set(self.history) | set(metrics):
            self.history.setdefault(name, [None] * (len(self.rounds) - 1)).append(_finite(metrics.get(name)))
        return self._raise(SIGNALS)

    def observe_samples(self, round_: int, rows: list[dict]) -> list[Alarm]:
        """Feed a round's samples table ({prompt, response, ...} rows); returns the alarms they raised."""
        self.samples.append((round_, [r for r in rows if isinstance(r.get("response"), str)]))
        return self._raise(SAMPLE_SIGNALS)

    def _raise(self, signals: tuple[str, ...]) -> list[Alarm]:
        fired = {a.signal for a in self.alarms}
        new = [alarm for signal in signals if signal not in fired
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

    def _alarm(self, signal: str, began_index: int, message: str, action: str, flagged: Flagged = None) -> Alarm:
        return _with_label_next(Alarm(signal, self.rounds[began_index], self.rounds[-1], message, action), flagged)

    def _latest(self, keep: Callable[[dict], bool] | None = None, those: str = "") -> Flagged:
        """The latest round's samples, or those of them that `keep` accepts (`those` says which) when it accepts
        any; None without samples."""
        if not self.samples or not self.samples[-1][1]:
            return None
        round_, rows = self.samples[-1]
        picked = [r for r in rows if keep(r)] if keep else []
        if not picked:
            return rows, f"the policy's {len(rows)} round-{round_} answers"
        return picked, f"{len(picked)} of the policy's {len(rows)} round-{round_} answers, those {those}"

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
                           "learning rate, or stop and keep an earlier checkpoint", self._latest())

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
        for sign in (1, -1):
            if not self._beyond_labels(sign):
                continue
            if len(inside) == s.window and None not in inside and all(c * sign > s.length_corr for c in inside):
                return self._alarm("length", len(self.rounds) - s.window,
                                   f"within each round the reward {_LENGTH[sign][0]} with answer length (r "
                                   f"{'>' if sign > 0 else '<'} {sign * s.length_corr:g} for {s.window} rounds): "
                                   f"the reward model may prize {_LENGTH[sign][1]} over content",
                                   _length_action(sign), self._length_flagged(sign))
            length = self._trend("response_length", s.trend_corr, sign)
            if length and length[0] > 0 and (length[-1] - length[0]) * sign >= length[0] * s.length_growth:
                return self._alarm("length", len(self.rounds) - s.trend,
                                   f"reward rises as answers get {_LENGTH[sign][2]} ({length[0]:.0f} -> "
                                   f"{length[-1]:.0f} tokens over {s.trend} rounds): the policy may be "
                                   f"{_LENGTH[sign][3]} to please the reward model", _length_action(sign),
                                   self._length_flagged(sign))
        return None

    def _beyond_labels(self, sign: int) -> bool:
        """Whether the latest answers' median length is past the ranked answers' (longer for sign +1, shorter for
        -1); True where either is unknown."""
        if self.settings.labelled_words is None or not self.samples or not self.samples[-1][1]:
            return True
        median = aq.median([_n_words(r) for r in self.samples[-1][1]])
        low, high = self.settings.labelled_words
        return median > high if sign > 0 else median < low

    def _length_flagged(self, sign: int) -> Flagged:
        """The latest samples at the end the reward prizes: longer (sign +1) or shorter (-1) than their median in
        words, the most extreme first."""
        cut = aq.median([_n_words(r) for r in self.samples[-1][1]]) if self.samples and self.samples[-1][1] else 0
        found = self._latest(lambda r: (_n_words(r) - cut) * sign > 0, f"{'over' if sign > 0 else 'under'} {cut:g} "
                             "words")
        return found and (sorted(found[0], key=lambda r: _n_words(r) * sign, reverse=True), found[1])

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
                           "read the samples; rank repetitive answers last, raise the KL coefficient",
                           self._latest(lambda r: aq.repeats_itself(r["response"]), "that repeat a phrase"))

    def _check_ensemble(self) -> Alarm | None:
        trend = self._trend("ensemble_disagreement", self.settings.trend_corr)
        if trend is None or trend[0] <= 0 or trend[-1] < trend[0] * (1 + self.settings.disagreement_growth):
            return None
        return self._alarm("ensemble", len(self.rounds) - self.settings.trend,
                           f"the reward models disagree more as the reward rises ({trend[0]:.3g} -> "
                           f"{trend[-1]:.3g}): the policy is moving where the reward model is unsure",
                           "rank samples from the latest round (gold check) and retrain the reward model",
                           self._latest())

    def _check_drift(self) -> Alarm | None:
        s, n = self.settings, self.settings.window
        kl, length = self._series("kl")[-n:], self._series("response_length")[-n:]
        if len(kl) < n or None in kl or None in length or min(length) <= 0:
            return None
        per_token = [k / t for k, t in zip(kl, length)]
        if min(per_token) < s.kl_per_token:
            return None
        return self._alarm("drift", len(self.rounds) - n,
                           f"the reference model finds the answers unlikely: {per_token[-1]:.2f} nats of KL per "
                           f"token for {n} rounds (healthy runs spend a few tenths): the answers may no longer "
                           "address the prompt", "read the samples; rank them against the starting policy's answers "
                           "to the same prompts, or raise the KL coefficient", self._latest())

    def _trend(self, name: str, min_corr: float, sign: int = 1) -> list[float] | None:
        """The last `trend` values of `name` when they follow a rising reward (r >= min_corr; sign -1: they fall as
        it rises, r <= -min_corr), else None."""
        n = self.settings.trend
        values, reward = self._series(name)[-n:], self._series("reward")[-n:]
        if len(values) < n or None in values or None in reward or not _rising(reward):
            return None
        r = pearson(reward, values)
        return values if r is not None and r * sign >= min_corr else None

    # -- the samples table -------------------------------------------------------------------------------
    def _window(self) -> list[dict]:
        return [row for _, rows in self.samples[-self.settings.window:] for row in rows]

    def _start(self) -> list[dict] | None:
        """The first `window` rounds' samples, once the window has moved past them; else None."""
        n = self.settings.window
        return [row for _, rows in self.samples[:n] for row in rows] if len(self.samples) >= 2 * n else None

    def _sample_alarm(self, signal: str, message: str, action: str, rows: list[dict], those: str) -> Alarm:
        """An alarm on the window's samples; `rows` (`those` says which) are the comparisons to label next."""
        rounds = [r for r, _ in self.samples[-self.settings.window:]]
        which = (f"{len(rows)} of the policy's {len(self._window())} answers of rounds {rounds[0]}-{rounds[-1]}, "
                 f"those {those}")
        return _with_label_next(Alarm(signal, rounds[0], rounds[-1], message, action), (rows, which))

    def _check_collapse(self) -> Alarm | None:
        s, rows, start = self.settings, self._window(), self._start()
        if len(rows) < s.min_answers:
            return None
        lengths = [len(aq.words(r["response"])) for r in rows]
        short = [r for r, n in zip(rows, lengths) if n < s.short_words]
        was_short = start is not None and sum(len(aq.words(r["response"])) < s.short_words
                                              for r in start) >= s.short_share * len(start)
        before = aq.median([len(aq.words(r["response"])) for r in start]) if start else None
        now = aq.median(lengths)
        halved = bool(before) and now * s.length_ratio <= before
        if halved or len(short) >= s.short_share * len(rows) and not was_short:
            return self._sample_alarm("collapse", f"the answers are collapsing: {len(short)} of {len(rows)} "
                                      f"recent samples are under {s.short_words} words (median {now:g} words"
                                      f"{f', from {before:g}' if before else ''})", "read the samples; rank "
                                      "these curt answers below longer, sensible ones to the same prompts",
                                      *((short, f"under {s.short_words} words") if short else
                                        _by_words(rows, now, -1)))
        if before is not None and now >= max(before, 1) * s.length_ratio:
            return self._sample_alarm("collapse", f"the answers are ballooning: median {now:g} words, from "
                                      f"{before:g}", "read the samples; rank these padded answers below shorter, "
                                      "sensible ones to the same prompts", *_by_words(rows, now, 1))
        return None

    def _check_nonwords(self) -> Alarm | None:
        rows = self._window()
        found = [w for r in rows for w in aq.words(r["response"])]
        bad = [w for w in found if not aq.is_wordlike(w)]
        if len(rows) < self.settings.min_answers or not found or len(bad) < self.settings.nonword_share * len(found):
            return None
        return self._sample_alarm("nonwords", f"{len(bad)} of {len(found)} words in the recent samples are not "
                                  f"words (e.g. {', '.join(repr(w) for w in bad[:SHOWN])})", "read the samples; "
                                  "rank these answers last, raise the KL coefficient",
                                  sorted((r for r in rows if aq.nonword_share(r["response"])),
                                         key=lambda r: aq.nonword_share(r["response"]), reverse=True),
                                  "with words that are not words")

    def _check_repeats(self) -> Alarm | None:
        rows = self._window()
        bad = [r for r in rows if aq.repeats_itself(r["response"])]
        if len(rows) < self.settings.min_answers or len(bad) < self.settings.repeat_share * len(rows):
            return None
        return self._sample_alarm("repeats", f"{len(bad)} of {len(rows)} recent samples repeat themselves",
                                  "rank these repetitive answers last, raise the KL coefficient", bad,
                                  "that repeat a phrase")

    def _check_off_topic(self) -> Alarm | None:
        s, rows = self.settings, self._window()
        judged = [(r, aq.addresses(r.get("prompt", ""), r["response"])) for r in rows]
        judged = [(r, hit) for r, hit in judged if hit is not None]
        if len(judged) < s.off_topic_answers:
            return None
        off = [r for r, hit in judged if not hit]
        start = [aq.addresses(r.get("prompt", ""), r["response"]) for r in self._start() or []]
        start = [hit for hit in start if hit is not None]
        before = sum(not hit for hit in start) / len(start) if start else 0.0
        share = len(off) / len(judged)
        if share < s.off_topic_share or share < before + s.off_topic_rise:
            return None
        return self._sample_alarm("off_topic", f"{len(off)} of {len(judged)} recent samples share no word with "
                                  f"their prompt (at the start {before:.0%}): the answers may no longer address "
                                  "the prompt", "rank these answers against the starting policy's answers to the "
                                  "same prompts", off, "that share no word with their prompt")


_LENGTH = {1: ("rises", "length", "longer", "padding answers"),  # (the reward ... with length, prizes, ...)
           -1: ("falls", "brevity", "shorter", "cutting answers short")}


Flagged = tuple[list[dict], str] | None  # the samples that raised an alarm, and which they are in words


def _length_action(sign: int) -> str:
    """Advice against a reward that prizes length (sign +1) or brevity (-1)."""
    fix = ("add rankings where the shorter, sensible answer wins, or cap max_new_tokens" if sign > 0 else
           "add rankings where the longer, sensible answer wins over a curt one")
    return f"check the reward model's length correlation (rm-report); {fix}"


def _n_words(row: dict) -> int:
    return len(aq.words(row["response"]))


def _by_words(rows: list[dict], median: float, sign: int) -> tuple[list[dict], str]:
    """The answers of `median` words or fewer (sign -1) or more (+1), the most extreme first, and which they are."""
    picked = sorted((r for r in rows if (_n_words(r) - median) * sign >= 0), key=lambda r: _n_words(r) * sign,
                    reverse=True)
    return picked, f"of {median:g} words or {'more' if sign > 0 else 'fewer'}"


def _with_label_next(alarm: Alarm, flagged: Flagged) -> Alarm:
    """`alarm` whose action ends naming the comparisons to label next (the flagged answers, each against the
    starting policy's answer to its prompt, the first `SHOWN` quoted) and whose `prompts` are theirs."""
    if not flagged or not flagged[0]:
        return alarm
    rows, which = flagged
    prompts = tuple(dict.fromkeys(r.get("prompt", "") for r in rows if r.get("prompt")))
    named = "; ".join(f'"{_cut(r.get("prompt", ""))}" -> "{_cut(r["response"])}"' for r in rows[:SHOWN])
    first = f" ({len(prompts)} prompt{'s' * (len(prompts) != 1)}, which a round samples first)" if prompts else ""
    return replace(alarm, prompts=prompts, action=f"{alarm.action}. Label next: {which}, each against the starting "
                                                  f"policy's answer to its prompt{first}: {named}")


def _cut(text: str, most: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[:most - 1] + "…"


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
