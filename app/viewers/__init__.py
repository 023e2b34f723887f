"""VTK views that observe the state models and render them (imported lazily: VTK is heavy)."""
