"""``python3 dev.py test --under-load``: the CPU burners it runs beside the suite.

The burners must load the machine only while the tests run: they stop when the run ends,
end by themselves after their bound, and leave at once when dev.py itself is killed, so no
run ever leaves a core spinning behind it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENEROUS = 60.0  # seconds; every wait below normally ends in milliseconds


@pytest.fixture(scope="module")
def dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie waiting for its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    ends = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > ends:
            return False
        time.sleep(0.05)
    return True


pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads process states from Linux's /proc"
)


def test_burners_run_during_the_block_and_are_stopped_after_it(dev: ModuleType) -> None:
    with dev.cpu_burners(2) as burners:
        assert len(burners) == 2
        assert all(running(burner.pid) for burner in burners)
    assert all(burner.returncode is not None for burner in burners)
    assert not any(running(burner.pid) for burner in burners)


def test_a_burner_ends_by_itself_after_its_bound(dev: ModuleType) -> None:
    with dev.cpu_burners(1, seconds=0.2) as [burner]:
        assert burner.wait(timeout=GENEROUS) == 0


def test_burners_leave_when_dev_py_is_killed(dev: ModuleType) -> None:
    # A stand-in for dev.py: starts a burner, reports its pid, and dies without cleaning up.
    script = (
        "import importlib.util, os, sys\n"
        f"spec = importlib.util.spec_from_file_location('dev_script', {str(ROOT / 'dev.py')!r})\n"
        "dev = importlib.util.module_from_spec(spec); spec.loader.exec_module(dev)\n"
        "with dev.cpu_burners(1) as [burner]:\n"
        "    print(burner.pid, flush=True)\n"
        "    sys.stdin.readline()\n"
        "    os._exit(9)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        assert parent.stdin is not None
        burner_pid = int(parent.stdout.readline())
        try:
            parent.stdin.write("die\n")
            parent.stdin.flush()
            assert parent.wait(timeout=GENEROUS) == 9
            assert gone_within(burner_pid, GENEROUS), "the orphaned burner kept running"
        finally:
            if running(burner_pid):
                os.kill(burner_pid, 9)


def test_the_readme_names_the_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 dev.py test --under-load" in readme
