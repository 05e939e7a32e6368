import pytest

from studio.core.store import Store


@pytest.fixture
def store():
    with Store(None) as s:
        yield s


@pytest.fixture
def comparison(store) -> int:
    """A comparison of three responses ("a", "b", "c") to the prompt "Q"."""
    prompt_id = store.add_prompt("Q")
    ids = [store.add_response(prompt_id, text, "base", {"temperature": 0.7}) for text in "abc"]
    return store.add_comparison(prompt_id, ids)
