"""What the README's install costs on a fresh machine: time, site-packages size, and no PyTorch.

    python benchmarks/install_size.py [--extra all] [--json]

Makes a brand-new virtualenv in a temporary folder, runs ``pip install -e ".[all]"`` there (the
README's first command, without starting the chat), and prints the wall time, the size of
site-packages, its largest distributions, and whether torch, triton or any nvidia-* package came
in. Budget: under 600 MB and no torch. Needs the package index, like any install.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MB = 600


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def measure(extra: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="ember-install-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
        subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
        started = time.perf_counter()
        target = f"{ROOT}[{extra}]" if extra else str(ROOT)
        subprocess.run([*pip, "install", "-e", target], check=True)
        seconds = time.perf_counter() - started
        (site,) = (venv / "lib").glob("python3*/site-packages")
        folders: dict[str, int] = {}
        for child in site.iterdir():
            if child.name in ("pip", "_distutils_hack", "pkg_resources") or child.name.startswith(("pip-", "setuptools")):
                continue
            folders[child.name] = _size(child) if child.is_dir() else child.stat().st_size
        total = sum(folders.values())
        names = [p.name.lower() for p in site.glob("*.dist-info")]
        heavy = sorted(n.split("-")[0] for n in names if n.startswith(("torch-", "triton-", "nvidia_", "sentence_transformers-")))
        biggest = sorted(folders.items(), key=lambda item: -item[1])[:8]
    return {
        "extra": extra, "install_seconds": round(seconds, 1), "site_packages_mb": round(total / 2**20, 1),
        "budget_mb": BUDGET_MB, "within_budget": total / 2**20 < BUDGET_MB and not heavy,
        "torch_or_cuda": heavy, "largest": [{"name": n, "mb": round(s / 2**20, 1)} for n, s in biggest],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="all", help="the extra to install ('' for the minimal core)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.extra)
    if args.json:
        print(json.dumps(result))
        return
    label = f'pip install -e ".[{args.extra}]"' if args.extra else "pip install -e ."
    print(f"{label}: {result['install_seconds']} s, site-packages {result['site_packages_mb']} MB "
          f"(budget {BUDGET_MB} MB), torch/CUDA: {', '.join(result['torch_or_cuda']) or 'none'}")
    for row in result["largest"]:
        print(f"  {row['name']:<32} {row['mb']:>7.1f} MB")


if __name__ == "__main__":
    main()
