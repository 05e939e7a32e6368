import pytest
import torch

from tests.training.helpers import tiny_base


@pytest.fixture
def base(tiny_model_dir):
    """A fresh shared base on the tiny model, on one thread (tiny matrices: a second thread only adds contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_base(tiny_model_dir)
    torch.set_num_threads(threads)
