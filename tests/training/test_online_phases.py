"""PPO and RLOO say what every phase of a round does, in the order it runs, and how far it is (issue 10, item 8)."""
from studio.training.online_configs import PPOConfig, RLOOConfig
from studio.training.engine import Hooks
from studio.training.ppo import train_ppo
from studio.training.rloo import train_rloo
from tests.training.test_ppo import PROMPTS, count_vowels


def recorder() -> tuple[Hooks, list[str]]:
    """Hooks that log every message, and each progress report as "progress i/n", in the order they come."""
    events: list[str] = []
    return Hooks(on_message=events.append, on_progress=lambda i, n: events.append(f"progress {i}/{n}")), events


def without_token_counts(events: list[str]) -> list[str]:
    """The events with sampling's per-token updates dropped (how many depends on when the answers end)."""
    return [e for e in events if ", token " not in e or ", token 1 of " in e]


def test_every_ppo_phase_is_reported_in_order(base, tmp_path):
    hooks, events = recorder()
    config = PPOConfig(iterations=2, batch_size=2, max_new_tokens=16, ppo_epochs=2, minibatches=2,
                       checkpoint_every=1)
    assert train_ppo(base, PROMPTS, count_vowels, config, tmp_path, hooks, init_adapter=None).status == "finished"

    def round_(i: int) -> list[str]:
        return [f"Round {i}: sampling 2 answers, token 1 of at most 16…",
                f"Round {i}: log-probs and values of the answers under the policy…",
                f"Round {i}: log-probs of the answers under the reference model…",
                f"Round {i}: scoring the 2 answers with the reward model…"]

    update = [f"Round {{}}: updating the policy, epoch {e} of 2, minibatch {m} of 2…" for e in (1, 2) for m in (1, 2)]
    shown = without_token_counts(events)
    scale = shown[4]
    assert scale.startswith("Round 1: normalising every round's scores by this first round's (mean ")
    assert shown == (
        round_(1) + [scale, "Round 1: advantages (KL penalty, GAE)…"] + [u.format(1) for u in update]
        + ["progress 1/2", "Round 1: saving a checkpoint…"]
        + round_(2) + ["Round 2: advantages (KL penalty, GAE)…"] + [u.format(2) for u in update]
        + ["progress 2/2", "Saving the checkpoint and the adapter…"])
    first_round = events[:events.index("progress 1/2")]  # progress within sampling: token counts that rise
    counts = [int(e.split(", token ")[1].split()[0]) for e in first_round if ", token " in e]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] >= 8 and all(n == 1 or n % 8 == 0 for n in counts)


def test_a_given_score_scale_is_not_announced_as_measured(base, tmp_path):
    hooks, events = recorder()
    config = PPOConfig(iterations=1, batch_size=2, max_new_tokens=8, checkpoint_every=100)
    train_ppo(base, PROMPTS, count_vowels, config, tmp_path, hooks, init_adapter=None, score_norm=(1.0, 2.0))
    assert not any("normalising" in e for e in events)


def test_every_rloo_phase_is_reported_in_order(base, tmp_path):
    hooks, events = recorder()
    config = RLOOConfig(iterations=2, batch_size=2, samples_per_prompt=2, prompts_per_pass=1, epochs=2,
                        max_new_tokens=16, checkpoint_every=1)
    assert train_rloo(base, PROMPTS, count_vowels, config, tmp_path, hooks, init_adapter=None).status == "finished"

    def round_(i: int) -> list[str]:
        return ([f"Round {i}: sampling 4 answers, token 1 of at most 16…",
                 f"Round {i}: scoring the 4 answers with the reward model…"]
                + [f"Round {i}: log-probs under the reference model, batch {b} of 2…" for b in (1, 2)]
                + [f"Round {i}: advantages and policy update, pass 1 of 2, batch {b} of 2…" for b in (1, 2)]
                + [f"Round {i}: policy update, pass 2 of 2, batch {b} of 2…" for b in (1, 2)])

    assert without_token_counts(events) == (round_(1) + ["progress 1/2", "Round 1: saving a checkpoint…"]
                                            + round_(2) + ["progress 2/2", "Saving the checkpoint and the adapter…"])
