"""The default answer length per device: short on a CPU, longer on an accelerator; an unknown device is a CPU."""
from studio.core.answer_length import default_answer_tokens


def test_each_device_gets_its_answer_length_and_an_index_does_not_matter():
    assert [default_answer_tokens(d) for d in ("cpu", "mps", "cuda", "cuda:1")] == [48, 128, 256, 256]
    assert default_answer_tokens("xpu") == 48
