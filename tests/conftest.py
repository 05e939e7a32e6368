import os
import random
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

from tests.tiny_model import make_tiny_model_dir


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Property-based (Hypothesis) tests draw from one seed per session, printed in the header and taken from
    STUDIO_TEST_SEED when set, so a failure can be replayed exactly (before Hypothesis' plugin reads it)."""
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = str(os.environ.get("STUDIO_TEST_SEED") or random.randrange(1 << 30))


def pytest_report_header(config):
    return f"STUDIO_TEST_SEED={config.getoption('hypothesis_seed')} (set it to replay the property-based tests)"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved random 2-layer Llama with a char-level chat tokenizer."""
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def judge_model_dir(tmp_path_factory) -> Path:
    """The tiny model set to judge `tests.judge_model.CASES` by its principle (real verdicts and abstentions)."""
    from tests.judge_model import make_judge_model_dir

    return make_judge_model_dir(tmp_path_factory.mktemp("judge") / "model")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Keep per-user config out of the real home folder (the model cache is shared)."""
    monkeypatch.setenv("STUDIO_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def project(tmp_path, tiny_model_dir) -> Path:
    """A project on the tiny model with 6 prompts, demonstrations and comparisons ranked by "me"."""
    from studio.core.project import Project
    from tests.ui.seed import seed_data

    root = tmp_path / "p"
    p = Project.init(root, model=tiny_model_dir)
    seed_data(p.store)
    p.close()
    return root
