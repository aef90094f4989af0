"""Mutation testing of one module or folder (`make mutate M=audiences_dagster/identity/normalize.py`).

mutmut 3 mutates the whole configured package in a `mutants/` copy of the working directory, and
takes which files to mutate and which tests to run from `[tool.mutmut]` in pyproject.toml. So each
run works in a scratch folder of its own (`.mutants/<module>/`, git-ignored): a copy of the package,
the tests and pyproject.toml, with `only_mutate` set to the module and the tests that reach it
(its mirror folder under audiences_dagster_tests/ unless T= names others). It prints the counts
by outcome, and the surviving mutants by name (`mutmut show <name>` there shows one).

    python -m audiences_dagster_tests.mutation audiences_dagster/quality/suites.py [tests ...]

MUTATE_K narrows the tests like `pytest -k` (MUTATE_K="not postgresql" runs the SQLite half);
MUTATE_JOBS caps how many mutants run at once (mutmut's --max-children).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE, TESTS = "audiences_dagster", "audiences_dagster_tests"
SCRATCH = ROOT / ".mutants"
OUTCOMES = ("killed", "survived", "timeout", "no tests", "suspicious", "skipped", "segfault")


def tests_reaching(module: Path) -> list[str]:
    """The tests of a module's mirror folder (identity/normalize.py -> audiences_dagster_tests/identity)."""
    relative = module.relative_to(PACKAGE)
    folder = relative.parent if module.suffix == ".py" else relative
    mirror = Path(TESTS) / folder
    return [str(mirror if (ROOT / mirror).is_dir() and folder.parts else Path(TESTS))]


def scratch_for(module: Path) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", str(module.with_suffix(""))).strip("_")
    return SCRATCH / slug


def configured(pyproject: str, module: Path, tests: list[str]) -> str:
    """pyproject.toml with `[tool.mutmut]` narrowed to the module and its tests."""
    pattern = f"{module}/*" if module.suffix != ".py" else str(module)
    settings = (f'\n[tool.mutmut]\nsource_paths = ["{PACKAGE}"]\nonly_mutate = ["{pattern}"]\n'
                f"pytest_add_cli_args_test_selection = {tests!r}\n".replace("'", '"'))
    base = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\n\[).)*", "\n", pyproject, flags=re.S)
    shared = re.search(r"\n\[tool\.mutmut\]\n((?:(?!\n\[).)*)", pyproject, flags=re.S)
    kept = [line for line in (shared.group(1).splitlines() if shared else [])
            if line.strip() and not line.startswith(("source_paths", "only_mutate", "pytest_add_cli_args_test_selection"))]
    return base.rstrip() + "\n" + settings + "".join(f"{line}\n" for line in kept)


def prepare(module: Path, tests: list[str]) -> Path:
    folder = scratch_for(module)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (PACKAGE, TESTS):
        shutil.copytree(ROOT / name, folder / name, ignore=ignore)
    (folder / "pyproject.toml").write_text(configured((ROOT / "pyproject.toml").read_text(), module, tests))
    return folder


def outcomes(folder: Path) -> Counter:
    """Counts by outcome from `mutmut results --all true` (one `name: outcome` line per mutant)."""
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=folder,
                             capture_output=True, text=True, check=True).stdout
    found = Counter()
    for line in listing.splitlines():
        name, _, outcome = line.strip().rpartition(": ")
        if name:
            found[outcome] += 1
            if outcome in ("survived", "no tests"):
                print(f"  {outcome:<9} {name}")
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    module = Path(argv[0])
    if not (ROOT / module).exists() or module.parts[0] != PACKAGE:
        print(f"mutate: {module} is not a module or folder of {PACKAGE}/")
        return 2
    tests = argv[1:] or tests_reaching(module)
    narrowed = ["-k", os.environ["MUTATE_K"]] if os.environ.get("MUTATE_K") else []
    folder = prepare(module, tests + narrowed)
    print(f"mutating {module} against {' '.join(tests + narrowed)} in {folder.relative_to(ROOT)}")
    jobs = ["--max-children", os.environ["MUTATE_JOBS"]] if os.environ.get("MUTATE_JOBS") else []
    run = subprocess.run([sys.executable, "-m", "mutmut", "run", *jobs], cwd=folder)
    if run.returncode != 0:
        print(f"mutate: mutmut run ended with exit code {run.returncode}")
        return run.returncode
    found = outcomes(folder)
    total = sum(found.values())
    killed = found["killed"] + found["timeout"]
    print(f"\n{module}: {total} mutants, killed {found['killed']}, survived {found['survived']}, "
          f"timeout {found['timeout']}, no tests {found['no tests']}"
          + (f" ({killed / total:.0%} killed or timed out)" if total else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
