"""The fixture build cache: real componentize-py builds, real wasmtime loads."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from wasmtime.component import ComponentInstanceType, FuncType

import theater.engine as theater_engine
from fixtures import build

# The component-model binary preamble: "\0asm", version 0x000d, layer 0x0001.
COMPONENT_MAGIC = b"\x00asm\x0d\x00\x01\x00"


@pytest.fixture(scope="module")
def example_wasm() -> Path:
    return build.build_actor("example")


@pytest.mark.slow
def test_example_builds_to_a_component_wasmtime_loads(example_wasm: Path) -> None:
    assert example_wasm.is_file()
    assert example_wasm.parent == build.cache_dir()
    assert not example_wasm.is_relative_to(build.REPO_ROOT)
    assert example_wasm.read_bytes()[:8] == COMPONENT_MAGIC

    # theater's engine, through its compiled-component cache: the actors run on this
    # engine, and a componentize-py component compiled cold costs ~20 s of CPU (then
    # once per machine, shared with every test that runs the example actor)
    engine = theater_engine.engine()
    component = theater_engine.load_component(example_wasm.read_bytes())
    exports = component.type.exports(engine)
    imports = component.type.imports(engine)
    actor = exports["theater:simple/actor"].ty
    client = exports["theater:simple/message-server-client"].ty
    assert isinstance(actor, ComponentInstanceType)
    assert isinstance(client, ComponentInstanceType)
    assert isinstance(actor.exports(engine)["init"].ty, FuncType)
    assert {"handle-send", "handle-request", "handle-channel-open", "handle-channel-message",
            "handle-channel-close"} <= set(client.exports(engine))
    runtime = imports["theater:simple/runtime"].ty
    assert isinstance(runtime, ComponentInstanceType)
    assert {"log", "get-chain", "shutdown"} <= set(runtime.exports(engine))
    # CPython's own needs: random for its startup seeding, the clock for time.time().
    assert "wasi:random/random@0.2.9" in imports
    assert "wasi:clocks/wall-clock@0.2.9" in imports


def test_second_build_is_a_cache_hit(example_wasm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = example_wasm.stat().st_mtime_ns

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached build must not run componentize-py")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    start = time.perf_counter()
    again = build.build_actor("example")
    elapsed = time.perf_counter() - start
    assert again == example_wasm
    assert again.stat().st_mtime_ns == before
    assert elapsed < 1.0


def test_cache_key_covers_sources_wit_and_toolchain(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    actors = tmp_path / "actors"
    shutil.copytree(build.ACTORS_DIR / "example", actors / "example")
    monkeypatch.setattr(build, "ACTORS_DIR", actors)
    key = build.build_key("example")
    assert key == build.build_key("example")
    assert len(key) == 64

    app = actors / "example" / "app.py"
    app.write_text(app.read_text() + "\n# changed\n")
    edited = build.build_key("example")
    assert edited != key

    (actors / "example" / "world.txt").write_text("theater:simple/simple-actor\n")
    assert build.world_of("example") == "theater:simple/simple-actor"
    assert build.build_key("example") != edited

    monkeypatch.setattr(build, "componentize_py_version", lambda: "0.0.0-other")
    assert build.build_key("example") not in (key, edited)


def test_cache_key_covers_shared_wit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wit = tmp_path / "wit"
    shutil.copytree(build.WIT_DIR, wit)
    monkeypatch.setattr(build, "WIT_DIR", wit)
    key = build.build_key("minimal")
    runtime = wit / "theater-simple" / "runtime.wit"
    runtime.write_text(runtime.read_text() + "\n")
    assert build.build_key("minimal") != key


def test_cache_dir_honours_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THEATER_FIXTURE_CACHE", str(tmp_path / "c"))
    assert build.cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()
    assert build.cached_path("example").parent == tmp_path / "c"


def test_failed_build_leaves_nothing_behind(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    actors = tmp_path / "actors"
    shutil.copytree(build.ACTORS_DIR / "minimal", actors / "broken")
    (actors / "broken" / "world.txt").write_text("theater:simple/no-such-world\n")
    cache = tmp_path / "cache"
    monkeypatch.setattr(build, "ACTORS_DIR", actors)
    monkeypatch.setenv("THEATER_FIXTURE_CACHE", str(cache))
    with pytest.raises(build.FixtureBuildError, match="no-such-world"):
        build.build_actor("broken")
    assert list(cache.iterdir()) == []


def test_unknown_fixtures_are_reported() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-actor"):
        build.build_actor("no-such-actor")
    with pytest.raises(FileNotFoundError, match="no-such-wat"):
        build.wat_path("no-such-wat")
