from types import SimpleNamespace
from typing import Any

import pytest

from ilvb.config import LiveSettings
from ilvb.errors import Unavailable
from ilvb.live.composite import CompositeRunner


def runner(**settings: Any) -> CompositeRunner:
    return CompositeRunner(rooms=None, settings=LiveSettings(**settings))  # type: ignore[arg-type]


def job(resolution: str, measured: float | None) -> Any:
    mark = None if measured is None else (0.0, 0.0)
    return SimpleNamespace(resolution=resolution, cpu_rate=measured or 0.0, _rate_mark=mark)


def test_a_job_is_admitted_while_the_budget_holds_its_cost_and_refused_after() -> None:
    r = runner(cpu_budget_cores=1.0, cost_640x480_cores=0.4, cost_1280x720_cores=0.9)
    r.admit("640x480")
    r.jobs["a"] = job("640x480", None)  # young: counted at its resolution's cost
    r.jobs["b"] = job("640x480", None)
    with pytest.raises(Unavailable) as refused:
        r.admit("640x480")
    assert refused.value.code == "composite_capacity" and "0.80 of 1.00 cores" in str(refused.value)
    with pytest.raises(Unavailable):
        r.admit("1280x720")


def test_measured_jobs_count_their_measured_cost() -> None:
    r = runner(cpu_budget_cores=1.0, cost_640x480_cores=0.4)
    r.jobs["a"] = job("640x480", 0.1)
    r.jobs["b"] = job("640x480", 0.1)
    assert r.load() == pytest.approx(0.2)
    r.admit("640x480")


def test_a_higher_measured_cost_is_learned_at_once_a_lower_one_slowly() -> None:
    r = runner(cost_640x480_cores=0.4)
    r.learn("640x480", 0.6)
    assert r.cost["640x480"] == pytest.approx(0.6)
    r.learn("640x480", 0.1)
    assert r.cost["640x480"] == pytest.approx(0.5)


def test_max_jobs_caps_the_count_whatever_the_cost() -> None:
    r = runner(cpu_budget_cores=100.0, max_jobs=1)
    r.jobs["a"] = job("640x480", 0.01)
    with pytest.raises(Unavailable):
        r.admit("640x480")


async def test_start_for_the_recordings_service_takes_the_room_key_of_its_taps(
    tmp_path: Any,
) -> None:
    r = runner()
    calls: list[tuple[str, Any]] = []

    async def start_job(app_id: str, room: Any, outputs: Any, **kw: Any) -> Any:
        calls.append((app_id, room))
        return outputs

    r.start_job = start_job  # type: ignore[method-assign]
    taps = SimpleNamespace(app_id="app1", room_key="math", room=SimpleNamespace(display="math"))
    outputs = await r.start(taps, tmp_path / "rec")
    assert calls == [("app1", "math")] and outputs.file == tmp_path / "rec" / "composite.mkv"
    assert (tmp_path / "rec").is_dir()
