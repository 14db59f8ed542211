"""telesim: command line, run-folder writers and docs for the téléconsultation adoption model.

The model itself is the ``model`` package (``from model import simulate``); this package holds
what sits around it: the ``telesim`` command (:mod:`telesim.cli`), atomic writers for everything
under ``results/`` (:mod:`telesim.atomic`) and the generated parameter tables
(:mod:`telesim.docs`).
"""
