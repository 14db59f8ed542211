"""The ``telesim`` command: ``telesim run | calibrate | experiment | report | dashboard``.

The top of the house (see ``docs/architecture.md``): each command parses its options and calls
the model, the calibration or the experiments; nothing below imports this package. The entry
point is :func:`cli.main.main` (``python -m cli`` does the same); ``python -m cli.docs`` writes
the parameter tables of ``docs/model.md``.
"""
