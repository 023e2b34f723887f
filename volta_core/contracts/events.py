"""Progress-event protocol of training runs: the names (:data:`EVENTS`) and what each carries.

Written by :mod:`volta_core.train.events` (the training process), read by the GUI training panel.

A run prints ONE JSON object per line on stdout and appends the same line to
``<run>/metrics.jsonl`` (:data:`METRICS_FILE`) (rank 0 only). Every object has:

- ``"event"``: one of :data:`EVENTS`
- ``"time"``: Unix time in seconds (float)
- ``"run"``: the run folder

and, depending on the event:

===============  ================================================================================
``started``      ``kind`` ("pretrain" / "finetune"), ``total_steps``, ``step`` (>0 when resumed),
                 ``resumed`` (bool), ``device``, ``world_size``, ``config`` (resolved, as a dict)
``step``         ``step`` (optimizer steps done), ``epoch``, every loss term (``loss``,
                 ``loss_global``, ...), ``lr``, ``wd``, ``volumes_per_s``, ``data_wait_frac``,
                 ``eta_s``; pretraining adds ``momentum``, ``teacher_temp`` and the teacher
                 diagnostics ``teacher_entropy``, ``teacher_diversity``, ``teacher_patch_entropy``
``epoch``        ``epoch`` (finished), ``step``, mean of each loss term over the epoch
``eval``         ``step``, ``epoch``, metric names -> values (e.g. ``dice_left``, ``auroc``)
``checkpoint``   ``step``, ``path``
``finished``     ``step``, ``path`` of the final artefact (checkpoint or bundle), final metrics
``stopped``      ``step``, ``reason`` ("signal" / "stop-file"), ``path`` of the checkpoint (null if
                 none); ``during`` = "set-up" when the signal came before training began
``failed``       ``step``, ``error`` (class name), ``message`` (one line: the cause and what to do,
                 e.g. out of memory, disk full, a damaged checkpoint)
``warning``      ``step``, ``kind`` (e.g. "teacher_collapse"), ``message``: the run goes on, but
                 a person should look (shown in the training panel)
===============  ================================================================================

Lines that do not start with ``{`` (e.g. warnings) must be ignored by readers, and so must a
line that is not whole JSON (a line torn by a full disk or a killed process).

A run ends with exactly one of ``finished``, ``stopped`` or ``failed``. When ``metrics.jsonl``
cannot be written (disk full) the line is removed again, so the file never holds half a line;
the ending events still reach stdout.

``metrics.jsonl`` is append-only, so a reader may follow it by offset (as the GUI does). A
resumed run repeats the steps after its checkpoint; its ``started`` event (``step`` = the
checkpoint's) supersedes every earlier event past that step. :func:`read_events` applies this,
so each step comes back once.
"""

from __future__ import annotations

#: Every event a run may emit, in the order a run meets them.
EVENTS = ("started", "step", "epoch", "eval", "checkpoint", "finished", "stopped", "failed", "warning")
#: A run ends with exactly one of these.
ENDINGS = ("finished", "stopped", "failed")
#: The run folder's JSON-lines file of events.
METRICS_FILE = "metrics.jsonl"
