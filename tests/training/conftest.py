import pytest
import torch

from studio.training.judge import Judge
from tests.training.helpers import tiny_base


@pytest.fixture
def base(tiny_model_dir):
    """A fresh shared base on the tiny model, on one thread (tiny matrices: a second thread only adds contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_base(tiny_model_dir)
    torch.set_num_threads(threads)


@pytest.fixture
def judge(judge_model_dir):
    """The judge on the scripted judge model (`tests.judge_model`), on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Judge(tiny_base(judge_model_dir))
    torch.set_num_threads(threads)
