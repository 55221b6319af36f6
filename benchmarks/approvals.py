"""Questions asked in an everyday session, and what the sandbox costs per command. Prints; asserts nothing.

    python benchmarks/approvals.py [--runs 30] [--json]

1. Twenty ordinary commands of a working session (build, test, git, cleaning up, a download into
   the workspace, a package install into it) go through the real ``shell`` tool with a person
   who answers every question with "once"; it counts the questions. Target: 0.
2. The start-up cost of the sandbox: the same ``true`` run directly and inside bubblewrap with
   Ember's mounts, median of ``--runs``. Target: <= 30 ms per command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ember.config import Settings, ToolSettings  # noqa: E402
from ember.models.base import ToolCall  # noqa: E402
from ember.security.approval import Approver  # noqa: E402
from ember.security.boundary import Boundary  # noqa: E402
from ember.security.sandbox import bwrap_problem  # noqa: E402
from ember.tools.builtin import builtin_registry  # noqa: E402
from ember.tools.registry import ToolContext  # noqa: E402

GIT = "git -c user.name=me -c user.email=me@example.com"
EVERYDAY = [
    "mkdir -p src tests build",
    "printf 'def add(a, b):\\n    return a + b\\n' > src/calc.py",
    "printf 'import sys; sys.path.insert(0, \"src\")\\nfrom calc import add\\nassert add(2, 3) == 5\\nprint(\"ok\")\\n' "
    "> tests/test_calc.py",
    "python3 tests/test_calc.py",
    "git init -q",
    f"{GIT} add -A && {GIT} commit -qm 'first'",
    "git status --short && git log --oneline",
    "printf 'all:\\n\\tpython3 -m compileall -q src\\n' > Makefile && make -s",
    "ls -la && du -sh .",
    "grep -rn 'def ' src",
    "sed -i 's/a + b/b + a/' src/calc.py && python3 tests/test_calc.py",
    f"{GIT} commit -qam 'swap' && git diff HEAD~1 --stat",
    "rm -rf build && mkdir -p build && cp src/calc.py build/",
    "find . -name '__pycache__' -prune -exec rm -rf {} + ; echo cleaned",
    "tar czf build/src.tgz src && tar tzf build/src.tgz",
    "python3 -m pip install -q --no-index --no-deps --target .venv ./tinypkg-1.0-py3-none-any.whl",
    "PYTHONPATH=.venv python3 -c 'import tinypkg; print(tinypkg.VALUE)'",
    "git stash list; git branch -a",
    "rm -rf .venv build && ls",
    "echo done > notes.txt && cat notes.txt",
]


def _wheel(folder: Path) -> None:
    with zipfile.ZipFile(folder / "tinypkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tinypkg/__init__.py", "VALUE = 42\n")
        wheel.writestr("tinypkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
        wheel.writestr("tinypkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                       "Tag: py3-none-any\n")
        wheel.writestr("tinypkg-1.0.dist-info/RECORD", "")


def everyday_session() -> dict:
    asked: list[str] = []
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as workspace:
        _wheel(Path(workspace))
        settings = Settings(home=Path(home), models={}, tools=ToolSettings())
        registry = builtin_registry(settings, plugins=False)
        approver = Approver("interactive", ask=lambda request: asked.append(request.action) or "once")
        ctx = ToolContext(workspace=Path(workspace), settings=settings, approver=approver)
        failed = []
        for i, command in enumerate(EVERYDAY):
            result = registry.execute(ToolCall(f"c{i}", "shell", {"command": command, "timeout": 120}), ctx)
            if not (result.content.rstrip().endswith("[exit code 0]") or "[working directory" in result.content):
                failed.append({"command": command, "output": result.content[-300:]})
    return {"commands": len(EVERYDAY), "questions": len(asked), "asked": asked, "failed": failed}


def _median_ms(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def sandbox_cost(runs: int) -> dict:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as workspace:
        wrapped = Boundary(workspace=Path(workspace), home=Path(home)).wrap(["/bin/true"], cwd=Path(workspace))
        direct = _median_ms(["/bin/true"], runs)
        sandboxed = _median_ms(wrapped, runs)
    return {"direct_ms": round(direct, 2), "sandboxed_ms": round(sandboxed, 2),
            "cost_ms": round(sandboxed - direct, 2), "target_ms": 30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    problem = bwrap_problem()
    if problem:
        raise SystemExit(f"no sandbox here: {problem}")
    result = {"everyday": everyday_session(), "sandbox": sandbox_cost(args.runs)}
    if args.json:
        print(json.dumps(result))
        return
    day, cost = result["everyday"], result["sandbox"]
    print(f"everyday session: {day['questions']} questions in {day['commands']} commands (target 0)"
          + (f", {len(day['failed'])} failed" if day["failed"] else ""))
    for item in day["failed"]:
        print(f"  failed: {item['command']}\n    {item['output']!r}")
    for action in day["asked"]:
        print(f"  asked: {action}")
    print(f"sandbox start-up: {cost['sandboxed_ms']} ms inside vs {cost['direct_ms']} ms direct: "
          f"{cost['cost_ms']} ms per command (target <= {cost['target_ms']} ms)")


if __name__ == "__main__":
    main()
