"""The airflow environment is separate from the jobs environment (product.md): it
carries Airflow and the Spark provider, never the jobs' libraries."""

import importlib.util

from packaging.version import Version


def test_airflow_3_3_with_spark_provider():
    import airflow
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator  # noqa: F401

    assert Version(airflow.__version__) >= Version("3.3")


def test_jobs_libraries_are_not_here():
    # tmlt.analytics pins tabulate<0.9, airflow-core needs >=0.9: they cannot share a venv
    assert importlib.util.find_spec("tmlt") is None
    import tabulate

    assert Version(tabulate.__version__) >= Version("0.9")
