"""`volta --help` and each subcommand's help stay light: no torch import (issue 15, item 30)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from volta_core.cli import SUBCOMMANDS

PROBE = ("import sys\n"
         "from volta_core.cli import main\n"
         "try:\n"
         "    main(sys.argv[1:])\n"
         "except SystemExit:\n"
         "    pass\n"
         "sys.stderr.write('torch imported: %s\\n' % ('torch' in sys.modules))\n")


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in SUBCOMMANDS]])
def test_help_does_not_import_torch(argv: list[str]):
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert "torch imported: False" in proc.stderr, proc.stderr[-2000:]
    assert "usage: volta" in proc.stdout
    if len(argv) == 2:
        assert f"volta {argv[0]}" in proc.stdout  # the subcommand's own, full parser answered


def test_every_subcommand_module_registers_its_name():
    import argparse
    import importlib

    for name, (module, _) in SUBCOMMANDS.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module).add_parser(sub)
        assert name in sub.choices, (name, module)
