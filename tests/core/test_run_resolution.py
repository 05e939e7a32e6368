"""`latest:KIND` names the newest finished run of that kind: not an older one, not a newer unfinished one."""
import pytest

from studio.core.store import Store


def test_latest_is_the_newest_finished_run_of_its_kind():
    with Store(None) as store:
        runs = [store.create_run(kind, {}) for kind in ("reward", "reward", "sft", "reward", "reward")]
        for run_id in runs[:4]:
            store.update_run(run_id, status="finished")
        assert store.resolve_run("latest:reward").id == runs[3]
        assert store.resolve_run("latest:sft").id == runs[2]
        with pytest.raises(LookupError, match="no finished dpo run"):
            store.resolve_run("latest:dpo")
