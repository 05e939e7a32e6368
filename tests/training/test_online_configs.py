"""PPO's and RLOO's configs share their common settings through `OnlineConfig`, and still list every field in the
order, with the default, that stored runs, job files and the Train form know."""
import dataclasses

from studio.training.online_configs import OnlineConfig, PPOConfig, RLOOConfig

SHARED = ["uncertainty_penalty", "stay_in_reach", "lora_r", "lora_alpha", "checkpoint_every", "samples_per_iteration", "seed",
          "bf16_autocast"]
PPO = ["iterations", "batch_size", "max_new_tokens", "temperature", "ppo_epochs", "minibatches", "lr",
       "max_grad_norm", "init_kl_coef", "adaptive_kl", "target_kl", "kl_horizon", "gamma", "lam", "cliprange",
       "cliprange_value", "vf_coef", "whiten_advantages", "missing_eos_penalty", *SHARED]
RLOO = ["iterations", "batch_size", "samples_per_prompt", "max_new_tokens", "temperature", "beta", "epochs",
        "cliprange", "lr", "max_grad_norm", "prompts_per_pass", "missing_eos_penalty", *SHARED]


def test_both_configs_keep_their_field_order_and_asdict_keys():
    assert [f.name for f in dataclasses.fields(PPOConfig)] == list(dataclasses.asdict(PPOConfig())) == PPO
    assert [f.name for f in dataclasses.fields(RLOOConfig)] == list(dataclasses.asdict(RLOOConfig())) == RLOO


def test_the_shared_fields_are_defined_once_with_their_defaults():
    assert issubclass(PPOConfig, OnlineConfig) and issubclass(RLOOConfig, OnlineConfig)
    assert [f.name for f in dataclasses.fields(OnlineConfig)] == SHARED
    for config in (PPOConfig(), RLOOConfig()):
        assert (config.uncertainty_penalty, config.stay_in_reach, config.lora_r, config.lora_alpha,
                config.checkpoint_every, config.samples_per_iteration, config.seed,
                config.bf16_autocast) == (1.0, True, 16, 32, 5, 4, 0, None)
    assert (PPOConfig().batch_size, RLOOConfig().batch_size) == (8, 4)  # each engine's own defaults stay its own
