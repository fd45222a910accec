"""styletransfer.runtime: glibc mmap threshold for inference processes."""

from __future__ import annotations

import subprocess
import sys

from styletransfer.runtime import release_large_buffers


def test_release_large_buffers_applies_on_linux_glibc():
    applied = release_large_buffers()
    if sys.platform.startswith("linux"):
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert applied is True


def test_runtime_does_not_import_torch():
    code = "import sys, styletransfer.runtime as r; r.release_large_buffers(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
