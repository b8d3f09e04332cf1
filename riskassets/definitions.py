"""The riskassets code location: everything under ``riskassets/defs/``.

Each network is a folder of ``defs/networks/`` with its ``defs.yaml`` (``NetworkComponent``);
``defs/environment.py`` adds the resources, the executor and the automation sensor;
``defs/networks/from_env.py`` the networks of ``RISKASSETS_NETWORKS`` when it is set.
"""

from pathlib import Path

import dagster as dg

# Imported here, not first by the loader: the loader restores the warning filters when it
# returns, and the package's filters of Dagster's beta notices must outlive it.
import riskassets.defs  # noqa: F401


@dg.definitions
def defs() -> dg.Definitions:
    # Settings are read when Dagster loads the code location, not at import.
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
