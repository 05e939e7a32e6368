"""The kinds of training run, in one place: every engine, page, command and job asks here what a kind is.

One frozen `RunKind` per kind in `KINDS`; every list that names kinds (the Train page's menu and charts, the CLI's
`train` commands, job exports, held-out sizes, the hacking monitor, the policy lists of Rank and Compare) is
derived from it. `studio.training.configs.resolve` imports `engine` and `config` when first asked for, so that
core never imports training. Adding an engine: its engine file, its config, one entry below
(docs/ARCHITECTURE.md, "Adding an engine").
"""
from __future__ import annotations

from dataclasses import dataclass

Chart = tuple[str, tuple[str, ...]]  # a chart's title and the metric series it draws ("reward/*": all under reward/)


@dataclass(frozen=True)
class Source:
    """What a kind learns from: the store's data that its runs (and its exported jobs) are made of."""

    name: str
    counts: tuple[str, ...]  # keys of `Store.counts()` / `Ratings.counts()`: any above 0 means there is data
    unit: str = ""  # what the engines hold out for eval figures ("" when they hold nothing out)
    more: str = ""  # what to add for a bigger held-out set
    online: bool = False  # sampled from the policy in rounds and scored by a reward model
    needs: str = ""  # the CLI's line when a project has none, after "<kind> needs "


DEMONSTRATIONS = Source("demonstrations", ("demonstrations",), "demonstration", "demonstrations",
                        needs="at least one demonstration: import some with `demos import`")
PAIRS = Source("ranked comparisons", ("pairs", "rating_pairs"), "prompt", "ranked prompts",
               needs="at least one preference pair: rank some comparisons or import pairs with `prefs import`")
RATINGS = Source("rated answers", ("ratings",), "prompt", "rated prompts",
                 needs="at least one rated answer: rate some on the Rate page or import them with `ratings import`")
PROMPTS = Source("prompts", ("prompts",), online=True, needs="at least one prompt: import some with `prompts import`")
SOURCES = (DEMONSTRATIONS, PAIRS, RATINGS, PROMPTS)


@dataclass(frozen=True)
class RunKind:
    """One kind of training run: what it learns from, what it makes, and how the studio shows and exports it."""

    name: str  # as stored in the runs table and typed on the command line
    title: str  # the Train page's menu entry
    help: str  # the CLI's help for `train NAME`
    learns_from: Source
    starts_from_policy: bool  # starts from a policy (normally the latest SFT run), which is also its KL reference
    makes_policy: bool  # its adapter answers prompts (Rank, Compare, sample, export)
    adapter: str  # the engine's adapter name on the shared base
    job_script: str  # the TRL / OpenRLHF module that trains it in an exported job
    engine: str  # "module:function", called as `function(base, data, config, run_dir, hooks, resume=...)`, plus
    # `init_adapter=` for kinds that start from a policy and `reward=` (a term_rewards.TermReward) for online
    # kinds; a round (training/rounds.py) adds `policy_start=` (online kinds) or `warm_start=` (kinds that `warm_starts`)
    config: str  # "module:Class" of its settings dataclass (torch-free: the GUI builds its form from it)
    headline: tuple[str, ...]  # the final metrics that sum a run up, most telling first
    charts: tuple[Chart, ...]  # the Train page's live charts
    needs: str = ""  # the Train page's message when the project has none of `learns_from`
    gold_checks: bool = False  # its rounds' answers can be ranked against the starting policy's (Oversight page)
    chart_help: tuple[tuple[str, str], ...] = ()  # (title, help) of the charts that no other kind draws
    warm_starts: bool = False  # its engine takes `warm_start=` (an earlier run of its kind's folder) to go on from

    @property
    def label(self) -> str:
        """The title without its explanation, e.g. "Reward model"."""
        return self.title.split(" (")[0]

    @property
    def online(self) -> bool:
        """Samples from the policy in rounds against a reward model, counting iterations instead of steps."""
        return self.learns_from.online


SFT, REWARD = "sft", "reward"  # the kinds other kinds build on: the usual starting policy, the reward model
LOSS: Chart = ("loss", ("loss", "eval_loss"))
MARGIN: Chart = ("margin", ("margin", "eval_margin"))
IMPLICIT: Chart = ("implicit rewards", ("chosen_reward", "rejected_reward"))
ONLINE_CHARTS: tuple[Chart, ...] = (("response length", ("response_length",)), ("distinct bigrams", ("distinct_2",)),
                                    ("reward-model disagreement",
                                     ("ensemble_disagreement", "uncertainty_penalty")),
                                    ("outside the labels' reach", ("outside_reach",)))

KINDS: dict[str, RunKind] = {k.name: k for k in (
    RunKind(SFT, "SFT (learn from demonstrations)", "Supervised fine-tuning on the demonstrations (LoRA).",
            DEMONSTRATIONS, starts_from_policy=False, makes_policy=True, adapter="sft",
            job_script="trl.scripts.sft", engine="studio.training.sft:train_sft",
            config="studio.training.configs:SFTConfig",
            headline=("loss", "eval_loss"),
            charts=(LOSS, ("learning rate", ("lr",)), ("gradient norm", ("grad_norm",)),
                    ("tokens per second", ("tokens_per_s",))),
            needs="Add demonstrations first (Demonstrations page): SFT learns from them."),
    RunKind(REWARD, "Reward model (learn the rankings)",
            "Reward model on the rankings (Bradley-Terry, scalar head, LoRA).",
            PAIRS, starts_from_policy=False, makes_policy=False, adapter="reward",
            job_script="trl.scripts.reward", engine="studio.training.reward:train_reward",
            config="studio.training.configs:RewardConfig",
            headline=("accuracy", "eval_accuracy", "loss"),
            charts=(LOSS, ("accuracy", ("accuracy", "eval_accuracy")), MARGIN),
            needs="Rank some comparisons first (Rank page): the reward model learns from them.", warm_starts=True),
    RunKind("ppo", "PPO (optimise the reward)",
            "PPO against the reward model with a KL leash to the SFT policy (LoRA).",
            PROMPTS, starts_from_policy=True, makes_policy=True, adapter="policy",
            job_script="openrlhf.cli.train_ppo_ray", engine="studio.training.ppo:train_ppo_online",
            config="studio.training.online_configs:PPOConfig", headline=("reward", "kl", "response_length"),
            charts=(("reward", ("reward", "reward/*")), ("KL", ("kl",)), ("beta", ("beta",)), ("entropy", ("entropy",)),
                    ("value loss", ("value_loss",)), ("clip fraction", ("clip_frac",)), ONLINE_CHARTS[0],
                    ("policy loss", ("policy_loss",)), *ONLINE_CHARTS[1:]), gold_checks=True),
    RunKind("dpo", "DPO (learn the rankings directly)", "DPO on the rankings, no reward model (LoRA).",
            PAIRS, starts_from_policy=True, makes_policy=True, adapter="dpo",
            job_script="trl.scripts.dpo", engine="studio.training.dpo:train_dpo",
            config="studio.training.configs:DPOConfig",
            headline=("reward_accuracy", "eval_reward_accuracy", "loss"),
            charts=(LOSS, ("accuracy", ("reward_accuracy", "eval_reward_accuracy")), IMPLICIT, MARGIN),
            needs="Rank some comparisons first (Rank page): DPO learns from them."),
    RunKind("rloo", "RLOO (optimise the reward, no value head)",
            "RLOO against the reward model: k answers per prompt, each judged against the others', KL leash to "
            "the SFT policy, no value head (LoRA).",
            PROMPTS, starts_from_policy=True, makes_policy=True, adapter="policy",
            job_script="trl.scripts.rloo", engine="studio.training.rloo:train_rloo_online",
            config="studio.training.online_configs:RLOOConfig",
            headline=("reward", "kl", "response_length"),
            charts=(("reward", ("reward", "rlhf_reward", "reward/*")), ("KL", ("kl",)), ("entropy", ("entropy",)),
                    ("policy loss", ("policy_loss",)), ONLINE_CHARTS[0], ("gradient norm", ("grad_norm",)),
                    ("clip fraction", ("clip_frac",)), ("samples per second", ("samples_per_s",)),
                    *ONLINE_CHARTS[1:]), gold_checks=True),
    RunKind("grpo", "GRPO (optimise the reward, judged within each group)",
            "GRPO against the reward model: k answers per prompt, each judged against its group's mean (and "
            "spread), clipped token-level objective, optional KL loss to the SFT policy (LoRA).",
            PROMPTS, starts_from_policy=True, makes_policy=True, adapter="policy",
            job_script="trl.scripts.grpo", engine="studio.training.grpo:train_grpo_online",
            config="studio.training.online_configs:GRPOConfig",
            headline=("reward", "reward_std", "response_length"),
            charts=(("reward", ("reward", "reward/*")), ("KL", ("kl",)),
                    ("entropy", ("entropy",)), ("clip fraction", ("clip_frac_low", "clip_frac_high")),
                    ONLINE_CHARTS[0], ("group reward std", ("reward_std", "frac_reward_zero_std")),
                    ("policy loss", ("policy_loss",)), ("gradient norm", ("grad_norm",)),
                    ("samples per second", ("samples_per_s",)), *ONLINE_CHARTS[1:]),
            chart_help=(("group reward std",
                         "How far the scores of the k answers to one prompt spread, averaged over the round's "
                         "prompts (reward_std), and the share of prompts whose answers all scored the same "
                         "(frac_reward_zero_std): those teach nothing. A fall toward 0 means the policy writes "
                         "one answer per prompt, or the reward cannot tell its answers apart."),), gold_checks=True),
    RunKind("kto", "KTO (learn the good/bad ratings directly)",
            "KTO on the answers rated good or bad, no pairs needed (LoRA).",
            RATINGS, starts_from_policy=True, makes_policy=True, adapter="kto",
            job_script="trl.scripts.kto", engine="studio.training.kto:train_kto",
            config="studio.training.configs:KTOConfig",
            headline=("margin", "eval_margin", "loss"),
            charts=(LOSS, IMPLICIT, MARGIN, ("KL reference point", ("kl", "eval_kl"))),
            needs="Rate some answers first (Rate page): KTO learns from them."),
)}


def run_kind(name: str) -> RunKind:
    """The kind called `name`; a ValueError naming the known ones for any other."""
    if name not in KINDS:
        raise ValueError(f"run kind must be one of {', '.join(KINDS)}, got {name!r}")
    return KINDS[name]


def kinds(**where: object) -> tuple[str, ...]:
    """The names of the kinds whose attributes equal `where`, in registry order, e.g. `kinds(online=True)`."""
    return tuple(k.name for k in KINDS.values() if all(getattr(k, a) == v for a, v in where.items()))
