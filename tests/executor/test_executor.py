"""The executor: results in task order whatever the workers, seeds from the task's identity,
a task's own error instead of a Dask traceback, the scheduler chosen by argument, environment
or Dask configuration, folders shipped as bytes."""

import math

import pytest

from neurolearn import executor as ex


def test_in_process_map_keeps_order():
    with ex.Executor(workers=1, progress=False) as e:
        assert not e.distributed
        assert e.map(math.sqrt, [9.0, 4.0, 1.0], keys=["a", "b", "c"]) == [3.0, 2.0, 1.0]


class _Seen(list):
    def append_pair(self, key, value):
        self.append((key, value))


def test_in_process_map_reports_each_result_once():
    seen = _Seen()
    with ex.Executor(workers=1, progress=False) as e:
        e.map(abs, [-1, -2], keys=["x", "y"], on_result=seen.append_pair)
    assert seen == [("x", 1), ("y", 2)]
    with pytest.raises(ValueError, match="2 keys for 3 tasks"):
        ex.Executor(workers=1, progress=False).map(abs, [1, 2, 3], keys=["a", "b"])
    with pytest.raises(ValueError, match="workers must be >= 1"):
        ex.Executor(workers=0)


def test_task_seed_depends_on_key_not_order():
    a = ex.task_seed(7, "cell", 3)
    assert a == ex.task_seed(7, "cell", 3)
    assert 0 <= a < 2**32
    seeds = {ex.task_seed(7, "cell", k) for k in range(100)}
    assert len(seeds) == 100  # distinct streams
    assert ex.task_seed(8, "cell", 3) != a


def test_scheduler_from_argument_environment_and_config(monkeypatch):
    dask = pytest.importorskip("dask")
    monkeypatch.delenv(ex.SCHEDULER_ENV, raising=False)
    assert ex.resolve_scheduler(None) is None
    with dask.config.set({ex.CONFIG_KEY: "tcp://config:1"}):
        assert ex.resolve_scheduler(None) == "tcp://config:1"
        monkeypatch.setenv(ex.SCHEDULER_ENV, "tcp://env:2")
        assert ex.resolve_scheduler(None) == "tcp://env:2"
        assert ex.resolve_scheduler("tcp://arg:3") == "tcp://arg:3"
        assert ex.Executor().distributed


def test_pack_and_unpack_folder(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.bin").write_bytes(b"\x00\x01")
    files = ex.pack_folder(src)
    assert files == {"a.txt": b"A", "sub/b.bin": b"\x00\x01"}
    dst = ex.unpack_folder(files, tmp_path / "dst", last=("a.txt",))
    assert ex.pack_folder(dst) == files
    assert ex.pack_folder(tmp_path / "missing") == {}
    with pytest.raises(ValueError, match="leaves its folder"):
        ex.unpack_folder({"../x": b""}, tmp_path / "dst")


def test_local_cluster_results_in_task_order_and_task_errors():
    pytest.importorskip("distributed")
    with ex.Executor(workers=2, progress=False) as e:
        assert e.distributed
        tasks = [(i, i + 1) for i in range(8)]
        seen = _Seen()
        out = e.map(sum, tasks, keys=[f"t{i}" for i in range(8)], on_result=seen.append_pair)
        assert out == [2 * i + 1 for i in range(8)]
        assert sorted(seen) == sorted((f"t{i}", 2 * i + 1) for i in range(8))
        # a task failing for a real reason: its key and its own message, no Dask traceback
        with pytest.raises(ex.TaskFailed, match=r"task bad failed: ValueError: math domain error"):
            e.map(math.sqrt, [4.0, -1.0], keys=["good", "bad"])


def test_unreachable_scheduler_is_named():
    pytest.importorskip("distributed")
    with pytest.raises(OSError, match="tcp://127.0.0.1:9"):
        ex.Executor(scheduler="tcp://127.0.0.1:9", progress=False, connect_timeout=2).client()


def test_per_worker_keeps_a_bounded_number_of_values_and_releases_the_rest(monkeypatch):
    from collections import OrderedDict

    monkeypatch.setattr(ex, "_WORKER_STATE", OrderedDict())
    monkeypatch.setattr(ex, "MAX_WORKER_VALUES", 3)
    built, released = [], []

    def get(key):
        return ex.per_worker(key, lambda: built.append(key) or f"v{key}", released.append)

    assert [get(k) for k in (1, 2, 3)] == ["v1", "v2", "v3"]
    assert get(1) == "v1" and built == [1, 2, 3]  # kept: built once, now the most recent
    get(4)  # evicts the least recently used, 2
    assert released == ["v2"] and list(ex._WORKER_STATE) == [3, 1, 4]
    get(2)  # built again
    assert built == [1, 2, 3, 4, 2] and released == ["v2", "v3"]
    ex.release_worker_values()
    assert released == ["v2", "v3", "v1", "v4", "v2"] and not ex._WORKER_STATE


def test_a_failing_release_is_logged_not_raised(monkeypatch, caplog):
    from collections import OrderedDict

    monkeypatch.setattr(ex, "_WORKER_STATE", OrderedDict())
    monkeypatch.setattr(ex, "MAX_WORKER_VALUES", 1)

    def fail(value):
        raise OSError(f"cannot remove {value}")

    ex.per_worker("a", lambda: "folder-a", fail)
    assert ex.per_worker("b", lambda: "folder-b") == "folder-b"
    assert "cannot remove folder-a" in caplog.text
