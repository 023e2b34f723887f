"""Text drawn over a view: orientation letters on the four edges, title and corner info."""

from __future__ import annotations

from vtkmodules.vtkRenderingCore import vtkRenderer, vtkTextActor

#: Colour of each slice view (title, and the crosshair line marking its plane in other views),
#: keyed by the world axis the view looks along. Red/green/yellow as in 3D Slicer.
VIEW_COLORS = {2: (0.93, 0.36, 0.33), 1: (0.42, 0.80, 0.40), 0: (0.95, 0.83, 0.30)}
LABEL_COLOR = (0.80, 0.86, 0.95)
INFO_COLOR = (0.62, 0.66, 0.72)

# (x, y) in normalised viewport coordinates and (horizontal, vertical) justification.
_EDGES = {
    "left": ((0.012, 0.5), ("left", "center")),
    "right": ((0.988, 0.5), ("right", "center")),
    "top": ((0.5, 0.985), ("center", "top")),
    "bottom": ((0.5, 0.015), ("center", "bottom")),
}
# VTK_TEXT_LEFT/BOTTOM = 0, CENTERED = 1, RIGHT/TOP = 2
_JUSTIFY = {"left": 0, "bottom": 0, "center": 1, "right": 2, "top": 2}
_CORNERS = {
    "title": ((0.012, 0.985), ("left", "top")),
    "bottom_left": ((0.012, 0.015), ("left", "bottom")),
    "bottom_right": ((0.988, 0.015), ("right", "bottom")),
}


def _text_actor(position: tuple[float, float], justify: tuple[str, str], size: int,
                color: tuple[float, float, float], bold: bool = False) -> vtkTextActor:
    actor = vtkTextActor()
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.GetPositionCoordinate().SetValue(*position)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*color)
    prop.SetBold(bold)
    prop.SetFontFamilyToArial()
    prop.SetShadow(True)
    prop.SetShadowOffset(1, -1)
    prop.SetJustification(_JUSTIFY[justify[0]])
    prop.SetVerticalJustification(_JUSTIFY[justify[1]])
    actor.SetPickable(False)
    return actor


class ViewAnnotations:
    """The text actors of one view, added to its renderer once and then only updated."""

    def __init__(self, renderer: vtkRenderer, title: str, title_color: tuple[float, float, float],
                 with_edges: bool = True) -> None:
        self.edges: dict[str, vtkTextActor] = {}
        if with_edges:
            for key, (pos, justify) in _EDGES.items():
                self.edges[key] = _text_actor(pos, justify, 15, LABEL_COLOR, bold=True)
        self.corners = {key: _text_actor(pos, justify, 12, INFO_COLOR)
                        for key, (pos, justify) in _CORNERS.items()}
        self.corners["title"].GetTextProperty().SetColor(*title_color)
        self.corners["title"].GetTextProperty().SetBold(True)
        self.corners["title"].SetInput(title)
        for actor in (*self.edges.values(), *self.corners.values()):
            renderer.AddViewProp(actor)

    def set_edges(self, labels: dict[str, str]) -> None:
        for key, actor in self.edges.items():
            actor.SetInput(labels.get(key, ""))

    def set_info(self, bottom_left: str = "", bottom_right: str = "") -> None:
        self.corners["bottom_left"].SetInput(bottom_left)
        self.corners["bottom_right"].SetInput(bottom_right)

    def set_visible(self, visible: bool) -> None:
        """Edge letters and corner info only make sense with a scan loaded; the title stays."""
        for actor in self.edges.values():
            actor.SetVisibility(visible)
        self.corners["bottom_left"].SetVisibility(visible)
        self.corners["bottom_right"].SetVisibility(visible)

    def text(self, key: str) -> str:
        """The text shown at an edge (``left`` ...) or corner (``title`` ...), for tests."""
        actor = self.edges.get(key) or self.corners[key]
        return str(actor.GetInput() or "")
