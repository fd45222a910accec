"""The package without the checkout: the wheel carries what a user needs, and installed in a
fresh virtual environment outside the clone it paints a preset and finds its migrations.

- The wheel holds every module of the source tree, the shipped weights with their cards
  (``checkpoints/`` as ``styletransfer/weights/``, the training candidate left out), the
  Alembic migrations, the dashboard template, the catalogues, the presets and the sample.
- ``[tool.setuptools] packages`` in pyproject.toml lists exactly the tree's packages.
- In a new venv (the heavy dependencies borrowed from this one by a ``.pth`` line, so nothing
  is downloaded; the wheel installed with ``--no-deps``), run from a folder outside the
  clone: ``stylize photo.jpg --style starry_night`` paints with the preset's net and
  ``stylebot check --offline`` creates the database from the packaged migrations.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _tree_packages() -> set[str]:
    return {".".join(p.parent.relative_to(REPO).parts) for root in ("bot", "styletransfer")
            for p in (REPO / root).rglob("__init__.py") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, timeout=600)
    (found,) = out.glob("stylebot-*.whl")
    return found


def test_pyproject_lists_every_package_of_the_tree():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"]) - set(config["package-dir"])
    assert listed == _tree_packages()
    assert config["package-dir"] == {"styletransfer.weights": "checkpoints"}


def test_wheel_carries_modules_weights_migrations_and_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(REPO)) for root in ("bot", "styletransfer") for p in (REPO / root).rglob("*.py")
               if "__pycache__" not in p.parts and "migrations" not in p.parts}
    assert modules <= names, sorted(modules - names)
    shipped = {f"styletransfer/weights/{p.relative_to(REPO / 'checkpoints')}"
               for p in (REPO / "checkpoints").rglob("*") if p.suffix in (".safetensors", ".json")
               and "-candidate" not in p.name}
    assert len(shipped) >= 2 * 9 and shipped <= names, sorted(shipped - names)  # AdaIN, 7 presets, texture
    assert not any("-candidate" in n for n in names)
    migrations = {f"bot/store/migrations/{p.relative_to(REPO / 'bot/store/migrations')}"
                  for p in (REPO / "bot/store/migrations").rglob("*") if p.suffix in (".py", ".mako")}
    assert len(migrations) >= 8 and migrations <= names, sorted(migrations - names)
    assert {"bot/web/templates/dashboard.html", "bot/locales/ru/LC_MESSAGES/bot.po", "bot/locales/bot.pot",
            "styletransfer/samples/tubingen.jpg", "styletransfer/presets/starry_night.jpg",
            "styletransfer/textures/canvas.png"} <= names


def test_installed_wheel_paints_a_preset_and_migrates_outside_the_clone(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., not stylebot
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    Image.open(REPO / "styletransfer" / "samples" / "tubingen.jpg").save(work / "photo.jpg")
    env = {k: v for k, v in os.environ.items() if k not in ("STYLETRANSFER_CHECKPOINTS", "STYLEBOT_ALEMBIC_DIR",
                                                              "PYTHONPATH")}
    env.update(STYLETRANSFER_ONNX_CACHE=str(tmp_path / "onnx"), HOME=str(tmp_path / "home"))
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import styletransfer.checkpoints as c, bot.store.db as d; "
                            "print(c.checkpoint_root()); print(d._alembic_dir())"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    root, migrations = where.stdout.split()
    assert root.startswith(str(site)) and migrations.startswith(str(site)), where.stdout
    painted = subprocess.run([str(venv / "bin" / "stylize"), "photo.jpg", "--style", "starry_night", "--size", "256",
                              "-o", "out.png"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert painted.returncode == 0, painted.stdout + painted.stderr
    out = Image.open(work / "out.png")
    assert max(out.size) == 256
    env.update(TELEGRAM_BOT_TOKEN="123456:" + "A" * 35, DATA_DIR=str(work / "data"),
               DATABASE_URL=f"sqlite+aiosqlite:///{work}/data/bot.db")
    export = subprocess.run([str(venv / "bin" / "stylebot"), "export-ratings", "-o", "ratings.csv"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=300)  # migrates the new database first
    assert export.returncode == 0 and (work / "ratings.csv").read_text().startswith("rating_id,"), export.stderr
    check = subprocess.run([str(venv / "bin" / "stylebot"), "check", "--offline"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=300)
    report = check.stdout + check.stderr
    assert "migrations at head" in report and "weights johnson starry_night" in report, report
    assert "verified" in report and "does not match" not in report, report
