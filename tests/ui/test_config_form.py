"""The Train page's settings form: the few settings a person decides come first in plain words with their help,
the rest under a collapsed "Advanced" group, every default as the config dataclass has it."""
from dataclasses import asdict

import pytest

from studio.core.run_kinds import KINDS
from studio.training.configs import config_class
from studio.ui.config_form import ConfigForm
from studio.workers.config_fields import config_fields

SUPERVISED = {"epochs", "lr", "max_length"}
BASIC = {"sft": SUPERVISED, "reward": SUPERVISED, "dpo": SUPERVISED | {"beta"},
         "kto": SUPERVISED | {"beta", "steps"}, "ppo": {"iterations", "max_new_tokens", "lr", "init_kl_coef"},
         "rloo": {"iterations", "max_new_tokens", "lr", "beta"}, "grpo": {"iterations", "max_new_tokens", "lr", "beta"}}


@pytest.mark.parametrize("kind", list(KINDS))
def test_basic_settings_first_the_rest_under_advanced(qtbot, kind):
    form = ConfigForm(config_fields(kind))
    qtbot.addWidget(form)
    form.show()
    shown = {name for name, (_, editor) in form.editors.items() if not editor.visibleRegion().isEmpty()}
    assert shown == BASIC[kind]
    assert not form.advanced.isExpanded() and len(form.editors) > len(shown)
    plain = {name: form.layout().itemAt(0).layout().labelForField(editor).text()
             for name, (_, editor) in form.editors.items() if name in shown}
    assert plain["lr"] == "Learning rate" and all("_" not in text for text in plain.values())
    assert form.values() == asdict(config_class(kind)())  # the defaults stay what the config says
    form.advanced.expand(animate=False)
    form.resize(form.sizeHint())
    assert all(not editor.visibleRegion().isEmpty() for _, editor in form.editors.values())
    assert all(editor.toolTip().startswith(spec.help) for spec, editor in form.editors.values())
