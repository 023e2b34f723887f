"""Training jobs, Qt-free: run folders, the launch command, failure explanations, locations, the
model registry, process liveness and time estimates. The training panel (``app.training``) shows
them; ``app.training.job_manager`` starts and follows the processes."""
