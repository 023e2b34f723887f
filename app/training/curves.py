"""Live curves of a job: every loss term and every validation metric, against the step (pyqtgraph)."""

from __future__ import annotations

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt6")

import pyqtgraph as pg
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.state.job_progress import JobProgress

#: Metrics are drawn one unit at a time (Dice in [0, 1] and HD95 in mm do not share an axis).
METRIC_GROUPS = (("Scores (0-1)", ""), ("Distances (mm)", "hd95"), ("Volume errors", "error"))


def metric_group(name: str) -> str:
    """The group title of a metric name (``dice_left`` -> scores, ``hd95`` -> distances)."""
    for title, marker in METRIC_GROUPS[1:]:
        if marker in name:
            return title
    return METRIC_GROUPS[0][0]


_COLORS = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#90a4ae", "#f06292")


class _Plot:
    """One plot with one line per named series (lines are created as names appear)."""

    def __init__(self, widget: pg.PlotWidget, y_label: str) -> None:
        self.widget = widget
        widget.setBackground("#15171b")
        widget.setLabel("bottom", "step")
        widget.setLabel("left", y_label)
        for axis in ("left", "bottom"):
            widget.getAxis(axis).enableAutoSIPrefix(False)
        widget.showGrid(x=True, y=True, alpha=0.2)
        self.legend = widget.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.lines: dict[str, pg.PlotDataItem] = {}

    def show(self, series: dict[str, list[tuple[int, float]]]) -> None:
        for name, points in series.items():
            line = self.lines.get(name)
            if line is None:
                color = _COLORS[len(self.lines) % len(_COLORS)]
                line = self.widget.plot(name=name, pen=pg.mkPen(color, width=2),
                                        symbol="o" if len(points) < 30 else None, symbolSize=4,
                                        symbolBrush=color, symbolPen=None)
                self.lines[name] = line
            line.setData([p[0] for p in points], [p[1] for p in points])
        for name in list(self.lines):
            if name not in series:
                self.widget.removeItem(self.lines.pop(name))
                self.legend.removeItem(name)

    def clear(self) -> None:
        self.show({})


class CurvesView(QWidget):
    """Losses (top) and validation metrics of one unit group (bottom, chosen in a combo box)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)  # side by side: the dock is wide and short
        layout.setContentsMargins(0, 0, 0, 0)
        left, right = QVBoxLayout(), QVBoxLayout()
        title = QLabel("Training losses", self)
        title.setMinimumHeight(24)
        left.addWidget(title)
        self.loss_plot = _Plot(pg.PlotWidget(self), "loss")
        left.addWidget(self.loss_plot.widget, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Validation metrics:", self))
        self.metric_group = QComboBox(self)
        self.metric_group.setObjectName("metric_group")
        self.metric_group.addItems([title for title, _ in METRIC_GROUPS])
        self.metric_group.currentIndexChanged.connect(lambda _i: self.show_progress(self._progress))
        row.addWidget(self.metric_group)
        row.addStretch(1)
        right.addLayout(row)
        self.metric_plot = _Plot(pg.PlotWidget(self), "value")
        right.addWidget(self.metric_plot.widget, 1)
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)
        self._progress: JobProgress | None = None

    def show_progress(self, progress: JobProgress | None) -> None:
        """Draw every loss term of ``progress`` and its metrics of the chosen group (None: empty)."""
        self._progress = progress
        self.loss_plot.show(progress.losses if progress is not None else {})
        group = self.metric_group.currentText()
        metrics = {k: v for k, v in (progress.metrics if progress is not None else {}).items()
                   if metric_group(k) == group}
        self.metric_plot.widget.setLabel("left", "mm" if "mm" in group else "value")
        self.metric_plot.show(metrics)

    def series_names(self) -> tuple[list[str], list[str]]:
        """Names drawn now: ``(losses, metrics)`` (for tests)."""
        return list(self.loss_plot.lines), list(self.metric_plot.lines)

    def point_count(self) -> int:
        """Points on the loss curve ``loss`` (for tests)."""
        line = self.loss_plot.lines.get("loss")
        if line is None:
            return 0
        xs, _ = line.getData()
        return 0 if xs is None else len(xs)
