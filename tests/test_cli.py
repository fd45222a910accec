"""The ``stylize`` CLI: one-line errors, no tracebacks, a real Gatys run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from styletransfer.cli import main, parse_style

import torch as _torch

_torch.set_num_threads(1)  # the test machine is shared: extra threads only contend

REPO = Path(__file__).resolve().parents[1]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "nothing on stderr"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_parse_style():
    assert parse_style("starry_night") == ("starry_night", 1.0)
    assert parse_style("udnie:0.3") == ("udnie", 0.3)
    assert parse_style(r"C:\art\wave.jpg") == (r"C:\art\wave.jpg", 1.0)
    assert parse_style(r"C:\art\wave.jpg:2") == (r"C:\art\wave.jpg", 2.0)
    assert parse_style("a:b.png") == ("a:b.png", 1.0)


def test_gatys_run(tubingen: Path, tmp_path: Path, capsys):
    out = tmp_path / "out.png"
    code = main([str(tubingen), "--style", "starry_night", "--method", "gatys", "--size", "48",
                 "--steps", "2", "-o", str(out), "--seed", "1"])
    assert code == 0, capsys.readouterr().err
    img = Image.open(out)
    assert img.size == (48, 36) and img.mode == "RGB"
    assert "wrote" in capsys.readouterr().out


def test_blend_of_preset_and_image(tubingen: Path, tmp_path: Path, capsys):
    out = tmp_path / "blend.jpg"
    code = main([str(tubingen), "--style", "udnie:0.7", "--style", f"{tubingen}:0.3", "-m", "gatys",
                 "--size", "32", "--steps", "1", "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).format == "JPEG"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t: [str(d / "missing.jpg"), "-s", "udnie", "-o", str(d / "o.png")], "not found"),
        (lambda d, t: [str(d / "notes.txt"), "-s", "udnie", "-o", str(d / "o.png")], "not an image"),
        (lambda d, t: [str(d / "broken.jpg"), "-s", "udnie", "-o", str(d / "o.png")], "truncated"),
        (lambda d, t: [str(t), "-s", "starry_nite", "-m", "gatys", "-o", str(d / "o.png")], "unknown preset|neither a preset"),
        (lambda d, t: [str(t), "-s", str(d / "nope.png"), "-m", "gatys", "-o", str(d / "o.png")], "not found"),
        (lambda d, t: [str(t), "-s", str(t), "-m", "johnson", "-o", str(d / "o.png")], "single preset"),
        (lambda d, t: [str(t), "-s", "udnie", "-o", str(d / "o.xyz")], "output format"),
        (lambda d, t: [str(t), "-s", "udnie", "-o", str(d / "no" / "o.png")], "does not exist"),
    ],
)
def test_errors_are_one_line(make_args, message, tmp_path: Path, tubingen: Path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    data = tubingen.read_bytes()
    (tmp_path / "broken.jpg").write_bytes(data[: len(data) // 3])
    code = main(make_args(tmp_path, tubingen))
    assert code == 1
    line = _error_line(capsys)
    assert line.startswith("stylize: error: ")
    import re

    assert re.search(message, line), line


def test_bad_alpha_is_a_usage_error(tubingen: Path, tmp_path: Path, capsys):
    assert main([str(tubingen), "-s", "udnie", "--alpha", "1.5", "-o", str(tmp_path / "o.png")]) == 2
    assert "alpha must be between 0 and 1" in _error_line(capsys)


def test_missing_checkpoint(tubingen: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(tmp_path))
    assert main([str(tubingen), "-s", "udnie", "-m", "johnson", "-o", str(tmp_path / "o.png")]) == 1
    line = _error_line(capsys)
    assert line.startswith("stylize: error: ") and "stylize-train" in line


def test_presets_listing(capsys, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("STYLETRANSFER_CHECKPOINTS", str(tmp_path))
    (tmp_path / "johnson").mkdir()
    (tmp_path / "johnson" / "udnie.safetensors").write_bytes(b"x")
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "title", "artist", "year", "methods"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["starry_night", "the_scream", "great_wave", "shipwreck_of_the_minotaur",
                          "udnie", "woman_with_hat", "mondrian"]
    assert "Vincent van Gogh" in rows["starry_night"] and "1889" in rows["starry_night"]
    assert rows["udnie"].endswith("johnson,gatys") and rows["starry_night"].endswith("gatys")
    assert "johnson" not in rows["starry_night"]


def test_console_script_subprocess(tmp_path: Path):
    exe = Path(sys.executable).with_name("stylize")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "styletransfer.cli"]
    res = subprocess.run(cmd + [str(tmp_path / "nope.jpg"), "-s", "udnie", "-o", str(tmp_path / "o.png")],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [f"stylize: error: content image '{tmp_path / 'nope.jpg'}' not found"]
    # the script leaves without the interpreter's teardown: what went to a pipe must be flushed first
    res = subprocess.run(cmd + ["presets"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 8 and res.stderr == "", res
    res = subprocess.run(cmd + ["--help"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and "--method" in res.stdout, res


def test_presets_listing_does_not_import_torch():
    code = "import sys; from styletransfer.cli import main; main(['presets']); print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == "False"


def test_version_and_shipped_sample(capsys):
    """`stylize --version` answers; the quick start's sample photo ships inside the package."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("stylize (stylebot) ")
    sample = REPO / "styletransfer" / "samples" / "tubingen.jpg"
    with Image.open(sample) as img:
        assert img.size == (1024, 768)
    assert "tubingen.jpg" in (REPO / "NOTICE").read_text()


def test_default_method_picks_what_works_here(tmp_path, capsys):
    """`stylize photo --style X` (no --method) runs the fastest method that has weights: the
    preset's net, else AdaIN for any other picture when its decoder ships, else Gatys - never a
    missing-file error."""
    from styletransfer.checkpoints import available_methods
    from styletransfer.cli import pick_method

    avail = available_methods()
    for style in ("starry_night", "udnie", str(REPO / "styletransfer" / "presets" / "mondrian.jpg")):
        expected = "johnson" if style in avail["johnson"] else "adain" if avail["adain"] else "gatys"
        assert pick_method([style]) == expected
    assert pick_method(["starry_night", "udnie"]) == ("adain" if avail["adain"] else "gatys")  # a blend
    sample = REPO / "styletransfer" / "samples" / "tubingen.jpg"
    out = tmp_path / "auto.png"
    assert main([str(sample), "--style", "the_scream", "--size", "48", "--steps", "2", "-o", str(out)]) == 0
    method = pick_method(["the_scream"])
    assert f", {method}, " in capsys.readouterr().out and Image.open(out).size == (48, 36)
