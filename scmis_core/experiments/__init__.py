"""The paper's experiments as resumable run lists: ``python -m scmis_core.experiments``.

``table1`` trains the generator variants of the paper's Tables 1 / 5 / 6 alike and measures
them with bootstrap intervals (:mod:`.table1`); ``table2`` runs the class-mix augmentation
grid of Tables 2 / 3 over seeds, labelled-set sizes and two protocols with paired tests
(:mod:`.table2`); ``report`` writes ``docs/results.md`` with the tables beside the paper's
numbers, figures and a verdict per claim (:mod:`.report`, :mod:`.tables`).

Every experiment is a list of runs with one JSON result each (:mod:`.runner`): rerunning a
command skips finished runs and continues an interrupted one from its last checkpoint;
``--budget-min`` stops starting runs after a time budget, ``--jobs 2`` runs two
single-threaded runs side by side, ``--dry-run`` (and ``--preset paper``) prints the run
list with CPU-hour / GPU-hour estimates.

Examples::

    python -m scmis_core.experiments table1 --preset cpu --jobs 2 --out runs/exp/table1
    python -m scmis_core.experiments table2 --preset cpu --generator rooms --out runs/exp/table2
    python -m scmis_core.experiments table1 --preset paper          # run list + GPU hours
    python -m scmis_core.experiments report --table1 runs/exp/table1 \\
        --table2 runs/exp/table2 --out docs/results.md
"""

from .cli import TABLE2_PRESETS, _named, main
from .runner import Runner, RunSpec
from .table1 import Table1Plan
from .table2 import MODE_NAMES, Table2Plan

__all__ = ["MODE_NAMES", "TABLE2_PRESETS", "Runner", "RunSpec", "Table1Plan", "Table2Plan",
           "_named", "main"]
