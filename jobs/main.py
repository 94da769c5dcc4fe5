"""The spark-submit entry point: `spark-submit jobs/main.py <command> [flags]`.

The DAGs' SparkSubmitOperator runs this file; on a cluster the encore package
travels with --py-files (see docs/cluster.md).
"""

import os
import sys

if __name__ == "__main__":
    os.environ["ENCORE_UNDER_SPARK_SUBMIT"] = "1"
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from encore.cli import main

    sys.exit(main(sys.argv[1:]))
