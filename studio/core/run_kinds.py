"""The kinds of training run, in one place: every engine, page and command asks here what a kind is."""
from __future__ import annotations

RUN_KINDS = ("sft", "reward", "ppo", "dpo", "rloo", "kto")  # every kind the store records
POLICY_KINDS = ("sft", "ppo", "dpo", "rloo", "kto")  # runs that make a policy: an adapter that answers
ONLINE_KINDS = ("ppo", "rloo")  # sample from the policy in rounds against a reward model; count iterations
FROM_POLICY_KINDS = ("ppo", "dpo", "rloo", "kto")  # start from a policy, normally the SFT run
OFFLINE_KINDS = ("sft", "reward", "dpo", "kto")  # learn from stored data in optimizer steps
