"""Thread workers for short tasks (loading a scan); they never touch VTK or widgets."""
