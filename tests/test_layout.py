"""The layout shows the design: the import contracts in pyproject.toml hold (import-linter:
the bot's layers, the job engines over one queue interface, the library's ONNX graphs over
its methods, the library never importing the bot), no two modules import each other even
through others (grimp's import graph, every import counted, lazy ones included; type-only
imports left out), and the deprecated module paths still import and say where things went."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_circles():
    import grimp

    graph = grimp.build_graph("bot", "styletransfer", exclude_type_checking_imports=True)
    modules = sorted(m for m in graph.modules if not m.endswith("._compat"))
    circles = set()
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.endswith("._compat") or imported == module:
                continue
            if graph.chain_exists(importer=imported, imported=module):
                circles.add(tuple(sorted((module, imported))))
    assert not circles, sorted(circles)


def test_old_module_paths_still_import_with_a_warning():
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "try:\n    import bot.db\nexcept DeprecationWarning as w:\n    print(w)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "bot.db moved to bot.store.db" in result.stdout, result.stdout + result.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from bot.db import Store
        from bot.dispatch import EngineScheduler
        from bot.jobs import InferenceWorker, JobSpec
        from bot.scheduler import Scheduler
        from bot.survey import SurveyImages
        from styletransfer.ort import export_johnson, session
        from styletransfer.ort_adain import export_adain
    from bot.jobs.local import InferenceWorker as new_worker, LocalQueue
    from bot.jobs.procrastinate import ProcrastinateQueue
    from bot.jobs.queue import JobSpec as new_spec
    from bot.store.db import Store as new_store

    assert (Store, Scheduler, EngineScheduler, InferenceWorker, JobSpec) == \
        (new_store, LocalQueue, ProcrastinateQueue, new_worker, new_spec)
    assert SurveyImages.__module__ == "bot.jobs.survey"
    import styletransfer.onnx.johnson as johnson  # the alias leaves its target's own attributes alone

    assert johnson.__package__ == "styletransfer.onnx" and johnson.__name__ == "styletransfer.onnx.johnson"
    assert (export_johnson.__module__, session.__module__, export_adain.__module__) == \
        ("styletransfer.onnx.johnson", "styletransfer.onnx.runtime", "styletransfer.onnx.adain")
    # python -m with an old module path runs the new module's main()
    result = subprocess.run([sys.executable, "-m", "bot.engine_worker", "--help"], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0 and "stylebot-worker" in result.stdout, result.stdout + result.stderr
