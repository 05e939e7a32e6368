"""The settings form of a run kind, read from its config dataclass (torch-free) for the Train page."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, get_args, get_type_hints


@dataclass
class FieldSpec:
    """One config field for a form: name, default, type, the plain-language tooltip and, for a setting a person
    decides (`basic`, shown first), its plain label."""

    name: str
    default: Any
    type: type
    help: str
    choices: tuple[str, ...] = ()  # the words a setting takes (its config's CHOICES): a list in the form
    basic: bool = False
    label: str = ""

    @property
    def title(self) -> str:
        """What the form calls it: the plain label, else the name in words."""
        return self.label or self.name.replace("_", " ")


def config_fields(kind: str) -> list[FieldSpec]:
    """The form fields of run kind `kind`'s config, from its dataclass."""
    from studio.training.configs import config_class

    cls = config_class(kind)
    hints, choices = get_type_hints(cls), getattr(cls, "CHOICES", {})

    def kind_of(f) -> type:  # an unset switch (bool | None, e.g. automatic checkpointing) is still a switch
        return bool if f.default is None and bool in get_args(hints[f.name]) else type(f.default)

    return [FieldSpec(f.name, f.default, kind_of(f), f.metadata.get("help", ""), tuple(choices.get(f.name, ())),
                      f.metadata.get("basic", False), f.metadata.get("label", "")) for f in fields(cls)]
