"""The ground floor: what every part of the harness shares, importing nothing else of ``harness``.

``names``: models, engines, checks and statuses; ``exits``: exit codes and the one error -> exit policy;
``protocol``: how a parent and its child processes talk (environment, stage lines, partial files, faults);
``records``: the typed results a check, a cell and a runtime leave, which the report and the gate read.
"""
