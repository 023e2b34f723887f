"""``volta-studio --self-test``: check an installation end to end, in the real main window.

It opens the bundled sample scan, runs a model bundle on it through the app's own inference flow
(the Model > Run worker), exports the mask, a CSV row and the PDF report through File > Export,
reads them back, checks that the ``--volta-cli`` entry (the one training jobs are started with)
lists every subcommand, and prints a short summary. Exit status 0 when every check passed, 1 with
a ``SELF-TEST FAILED: ...`` line saying what went wrong otherwise. It works the same on a source
install (``python -m app --self-test``) and on a PyInstaller bundle (``volta-studio --self-test``),
which is what it is for: proving that a packaged app found its resources, its model and all its
dynamically imported modules.

It needs an X server (VTK's OpenGL context): without a display on Linux it re-runs itself under
``xvfb-run`` when that is installed. It never touches the user's settings (a temporary settings
file) and never opens a network connection (Python-level connections are watched with an audit
hook and any attempt to reach a non-local address fails the test).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Sample scan geometry (fsaverage ``orig.mgz``) and the volumes a working model must report.
SAMPLE_SHAPE = (256, 256, 256)
PLAUSIBLE_ML = (1.0, 8.0)
LOAD_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 900.0
EXPORT_TIMEOUT_S = 120.0
CLI_TIMEOUT_S = 120.0
#: Set in the re-run under xvfb-run, so a broken X server cannot make it loop.
REEXEC_ENV = "VOLTA_SELFTEST_UNDER_XVFB"
KEEP_ENV = "VOLTA_SELFTEST_KEEP"
SUBCOMMAND_NAMES = ("pretrain", "finetune", "evaluate", "synth-data", "predict")


class SelfTestError(RuntimeError):
    """A check failed; the message says which and what to do."""


@dataclass
class SelfTestReport:
    """What the self-test saw: one line per passed check, and the time each took."""

    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def ok(self, text: str) -> None:
        self.lines.append(f"  ok  {text}")
        print(f"  ok  {text}", flush=True)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def cli_command() -> list[str]:
    """The command prefix that runs the ``volta`` command line in this installation (as training jobs do)."""
    from app.jobs.launch import volta_command

    return volta_command([])


def self_command(argv: Sequence[str]) -> list[str]:
    """The command that starts this app again with ``argv``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *argv]
    return [sys.executable, "-m", "app", *argv]


def choose_bundle(model: Path | None) -> Path:
    """``model`` if given (it must be a bundle), else the first bundled model.

    Raises:
        SelfTestError: ``model`` is not a bundle, or no model is bundled.
    """
    from app.state.model_catalog import CARD_FILE, bundled_models_dir, find_bundles

    if model is not None:
        found = find_bundles(Path(model), "opened")
        if not found or found[0].path != Path(model):
            raise SelfTestError(f"--model {model} is not a model bundle ({CARD_FILE} missing or unreadable): "
                                f"pass the folder that holds model.safetensors and {CARD_FILE}")
        return found[0].path
    bundled = find_bundles(bundled_models_dir(), "bundled")
    if not bundled:
        raise SelfTestError(f"no model is bundled (nothing in {bundled_models_dir()}): put a bundle in "
                            f"resources/models/ before building, or pass --model BUNDLE")
    return bundled[0].path


# network watch ---------------------------------------------------------------------------------
_network_attempts: list[str] = []
_hook_installed = False


def _is_local(address: Any) -> bool:
    if address is None or isinstance(address, (str, bytes)):  # AF_UNIX path, or no host
        return True
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in ("localhost", "") or host.startswith("127.") or host in ("::1", "0.0.0.0")
    return True


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and len(args) >= 2 and not _is_local(args[1]):
        _network_attempts.append(f"connect {args[1]!r}")
    elif event == "socket.getaddrinfo" and args and args[0] is not None and not _is_local((args[0],)):
        _network_attempts.append(f"resolve {args[0]!r}")


def watch_network() -> list[str]:
    """Record Python-level attempts to reach a non-local address (an audit hook; it stays on)."""
    global _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    return _network_attempts


# display ---------------------------------------------------------------------------------------
def needs_xvfb() -> bool:
    """True on Linux/BSD without any display (VTK needs a real X server or Wayland)."""
    if sys.platform in ("win32", "darwin"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def rerun_under_xvfb(argv: Sequence[str]) -> int:
    """Run the self-test again under ``xvfb-run -a``; its exit status.

    Raises:
        SelfTestError: no display and no ``xvfb-run``.
    """
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None or os.environ.get(REEXEC_ENV):
        raise SelfTestError("no display: the self-test opens the real window and needs an X server. "
                            "Run it on a desktop, or install Xvfb (apt-get install xvfb xauth) and run it "
                            "as `xvfb-run -a volta-studio --self-test`")
    print("no display: running the self-test under xvfb-run", flush=True)
    env = dict(os.environ, **{REEXEC_ENV: "1"})
    return subprocess.call([xvfb_run, "-a", "-s", "-screen 0 1600x1000x24", *self_command(argv)], env=env)


# waiting for the window's signals ----------------------------------------------------------------
def wait_for(ok_signal: Any, fail_signal: Any | None, start: Callable[[], None], timeout_s: float,
             what: str) -> Any:
    """Call ``start`` and run the event loop until ``ok_signal`` (its first argument is returned)
    or ``fail_signal`` (raises with the error) fires.

    Raises:
        SelfTestError: the failure signal fired or the timeout passed.
    """
    from PyQt6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    outcome: dict[str, Any] = {}

    def on_ok(*args: Any) -> None:
        outcome.setdefault("ok", args[0] if args else None)
        loop.quit()

    def on_fail(*args: Any) -> None:
        outcome.setdefault("error", args[0] if args else None)
        loop.quit()

    ok_signal.connect(on_ok)
    if fail_signal is not None:
        fail_signal.connect(on_fail)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(timeout_s * 1000))
    try:
        QTimer.singleShot(0, start)
        loop.exec()
    finally:
        timer.stop()
        ok_signal.disconnect(on_ok)
        if fail_signal is not None:
            fail_signal.disconnect(on_fail)
    if "error" in outcome:
        error = outcome["error"]
        detail = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        raise SelfTestError(f"{what} failed: {detail}")
    if "ok" not in outcome:
        raise SelfTestError(f"{what} did not finish within {timeout_s:.0f} s")
    return outcome["ok"]


def pump(ms: int) -> None:
    """Let the event loop run for ``ms`` milliseconds (paints, queued slots)."""
    from PyQt6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


# checks ----------------------------------------------------------------------------------------
def check_volumes(volumes: dict[str, float], low: float, high: float) -> None:
    """Both hippocampi within ``[low, high]`` mL.

    Raises:
        SelfTestError: a volume is missing or out of range.
    """
    for side in ("left", "right"):
        value = volumes.get(side)
        if value is None or not low <= float(value) <= high:
            raise SelfTestError(f"{side} hippocampus volume {value} mL is outside the plausible {low:g}-{high:g} mL: "
                                "the model or the preprocessing (template, registration) is not working")


def check_mask_file(path: Path, labels: Any, shape: tuple[int, ...]) -> None:
    """The exported mask reads back on the scan's grid with exactly the predicted labels."""
    import numpy as np

    from volta_core.io import load_volume

    mask = load_volume(path)
    if tuple(mask.shape) != tuple(shape):
        raise SelfTestError(f"the exported mask {path.name} has shape {mask.shape}, the scan {shape}")
    if not np.array_equal(np.asarray(mask.data).astype(np.uint8), np.asarray(labels, dtype=np.uint8)):
        raise SelfTestError(f"the exported mask {path.name} differs from the prediction")


def check_csv_file(path: Path, volumes: dict[str, float]) -> None:
    """One ``ok`` row whose volumes match the prediction."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if len(rows) != 1 or rows[0].get("status") != "ok":
        raise SelfTestError(f"the exported CSV {path.name} should hold one 'ok' row, got {rows!r}")
    for side in ("left", "right"):
        written = float(rows[0][f"hippocampus_{side}_ml"])
        if abs(written - volumes[side]) > 1e-3:
            raise SelfTestError(f"the CSV says {side} = {written} mL, the prediction {volumes[side]:.4f} mL")


def check_pdf_file(path: Path) -> int:
    """A complete PDF with at least one page and the view images; returns its page count."""
    data = path.read_bytes()
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise SelfTestError(f"the report {path.name} is not a complete PDF")
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    if pages < 1:
        raise SelfTestError(f"the report {path.name} has no page")
    if b"/Subtype /Image" not in data:
        raise SelfTestError(f"the report {path.name} has no view images (the VTK screenshots failed)")
    return pages


def check_cli_entry() -> None:
    """``<app> --volta-cli --help`` (how training jobs start) lists every subcommand."""
    command = [*cli_command(), "--help"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SelfTestError(f"could not start the command-line entry {command}: {exc}") from exc
    missing = [name for name in SUBCOMMAND_NAMES if name not in out.stdout]
    if out.returncode != 0 or missing:
        raise SelfTestError(f"`{' '.join(command)}` exited {out.returncode} (missing subcommands: "
                            f"{missing or 'none'}): {out.stderr.strip()[-800:]}")


# the run ---------------------------------------------------------------------------------------
def _run_in_window(bundle: Path, folder: Path, report: SelfTestReport) -> None:
    import numpy as np

    from app.startup import create_main_window
    from volta_core.io import sample_scan_path

    t0 = time.perf_counter()
    app, window = create_main_window()
    window.resize(1400, 900)
    window.show()
    pump(100)
    window.create_views()
    pump(100)
    if window.view_grid is None:
        raise SelfTestError("the VTK views could not be created")
    report.ok(f"window and VTK views created ({time.perf_counter() - t0:.1f} s)")
    try:
        if not window.inference.add_bundle(bundle):
            raise SelfTestError(f"the app refused the model bundle {bundle}")
        sample = sample_scan_path()
        t0 = time.perf_counter()
        layer = wait_for(window.scan_loaded, window.load_failed, lambda: window.open_path(sample),
                         LOAD_TIMEOUT_S, f"opening the sample scan {sample}")
        shape = tuple(int(s) for s in layer.volume.shape)
        data = np.asarray(layer.volume.data)
        if shape != SAMPLE_SHAPE or not np.isfinite(data).all() or float(data.max()) <= float(data.min()):
            raise SelfTestError(f"the sample scan loaded with shape {shape} (expected {SAMPLE_SHAPE}) "
                                f"or without usable intensities")
        report.ok(f"sample scan {sample.name} loaded: {'x'.join(map(str, shape))} ({time.perf_counter() - t0:.1f} s)")

        if not window.inference.run_action.isEnabled():
            raise SelfTestError("Model > Run is disabled although a scan and a model are selected")
        t0 = time.perf_counter()
        seg = wait_for(window.inference.prediction_added, window.inference.run_failed,
                       window.inference.run_action.trigger, RUN_TIMEOUT_S, f"running the model {bundle.name}")
        volumes = dict(seg.prediction.volumes_ml)
        check_volumes(volumes, *PLAUSIBLE_ML)
        report.ok(f"model {seg.prediction.model.name} ran ({time.perf_counter() - t0:.1f} s): "
                  f"left {volumes['left']:.2f} mL, right {volumes['right']:.2f} mL (plausible: "
                  f"{PLAUSIBLE_ML[0]:g}-{PLAUSIBLE_ML[1]:g} mL)")
        pump(300)  # overlays and meshes shown before the report's screenshots

        exports = window.export_actions
        paths = {"mask": folder / "sample_hippocampus_mask.nii.gz", "csv": folder / "sample_hippocampus.csv",
                 "pdf": folder / "sample_report.pdf"}
        for kind, path in paths.items():
            wait_for(exports.exported, exports.failed, lambda k=kind, p=path: exports.export(k, p),
                     EXPORT_TIMEOUT_S, f"exporting the {kind}")
            if not path.is_file() or path.stat().st_size == 0:
                raise SelfTestError(f"the {kind} export reported success but {path} is missing or empty")
        check_mask_file(paths["mask"], seg.labels, shape)
        check_csv_file(paths["csv"], volumes)
        pages = check_pdf_file(paths["pdf"])
        report.ok(f"exports read back: mask on the scan grid, CSV row, PDF report ({pages} page(s), "
                  f"{paths['pdf'].stat().st_size // 1024} KB)")
    finally:
        window.close()
        pump(50)
        app.processEvents()


def run_self_test(model: Path | None = None, argv: Sequence[str] = ("--self-test",),
                  keep: bool | None = None) -> int:
    """Run every check; print the summary; return the exit status (0 passed, 1 failed).

    Args:
        model: a model bundle folder; default the first bundled one.
        argv: the app arguments, to start it again under xvfb-run when there is no display.
        keep: keep the output folder even when every check passed (default: only when
            ``$VOLTA_SELFTEST_KEEP`` is set; it is always kept after a failure).
    """
    if keep is None:
        keep = bool(os.environ.get(KEEP_ENV))
    os.environ.setdefault("QT_API", "pyqt6")
    report = SelfTestReport()
    folder: Path | None = None
    try:
        bundle = choose_bundle(model)  # before anything slow: a missing model is the likeliest failure
        if needs_xvfb():
            return rerun_under_xvfb(argv)
        attempts = watch_network()
        frozen = "PyInstaller bundle" if getattr(sys, "frozen", False) else "source install"
        print(f"VolTA-3D Studio self-test ({frozen}, {sys.executable})", flush=True)
        report.ok(f"model bundle: {bundle}")
        folder = Path(tempfile.mkdtemp(prefix="volta-selftest-"))
        # the user's settings (recent files, window geometry) stay untouched
        os.environ["VOLTA_STUDIO_SETTINGS"] = str(folder / "settings.ini")
        _run_in_window(bundle, folder, report)
        t0 = time.perf_counter()
        check_cli_entry()
        report.ok(f"training entry `{Path(cli_command()[0]).name} ... --volta-cli` lists "
                  f"{', '.join(SUBCOMMAND_NAMES)} ({time.perf_counter() - t0:.1f} s)")
        if attempts:
            raise SelfTestError(f"the app tried to reach the network: {'; '.join(attempts[:5])}")
        report.ok("no network connection attempted")
    except SelfTestError as exc:
        print(f"SELF-TEST FAILED: {exc}", file=sys.stderr, flush=True)
        if folder is not None:
            print(f"(output kept in {folder})", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - an unexpected error is a failed test, with its traceback
        import traceback

        traceback.print_exc()
        print(f"SELF-TEST FAILED: unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"SELF-TEST PASSED: {len(report.lines)} checks in {report.seconds:.1f} s", flush=True)
    if folder is not None:
        if keep:
            print(f"output kept in {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
