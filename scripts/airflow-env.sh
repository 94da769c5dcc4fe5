# shellcheck shell=bash
# Environment for running Encore's DAGs locally: `source scripts/airflow-env.sh [AIRFLOW_HOME] [DATA_ROOT]`.
# Used by `make airflow`, `make demo` (encore demo) and tests/airflow; one place for the wiring.
#
#   AIRFLOW_HOME    default var/airflow (SQLite database, logs; ignored by git)
#   DATA_ROOT       the data root the DAGs read and write (Airflow Variable encore_data_root)
#   SPARK_MASTER    master of the spark_default connection (default local[2]; e.g. spark://host:7077)
_encore_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ENCORE_HOME="${ENCORE_HOME:-$_encore_repo}"
export AIRFLOW_HOME="$(realpath -m "${1:-${AIRFLOW_HOME:-$_encore_repo/var/airflow}}")"
_encore_data="$(realpath -m "${2:-${ENCORE_DATA_ROOT:-$_encore_repo/var/data}}")"
mkdir -p "$AIRFLOW_HOME"
# Airflow's own environment first on PATH: `airflow standalone` starts its parts as `airflow ...`
case ":$PATH:" in *":$_encore_repo/.venv-airflow/bin:"*) ;; *) export PATH="$_encore_repo/.venv-airflow/bin:$PATH" ;; esac

export AIRFLOW__CORE__DAGS_FOLDER="$_encore_repo/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
# two cores: one task at a time keeps Spark's local[2] to itself
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-2}"
# DAGs start unpaused (encore_yearly's scheduled run on 1 December; in December a first
# start runs this year's at once); the tests start them paused and unpause what they use
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
# the jobs environment (the DAGs' spark-submit and the Python it runs)
export ENCORE_SPARK_SUBMIT="${ENCORE_SPARK_SUBMIT:-$ENCORE_HOME/.venv/bin/spark-submit}"
export ENCORE_PYSPARK_PYTHON="${ENCORE_PYSPARK_PYTHON:-$ENCORE_HOME/.venv/bin/python}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
# the spark_default connection: local[2] unless SPARK_MASTER says otherwise
export AIRFLOW_CONN_SPARK_DEFAULT="{\"conn_type\": \"spark\", \"host\": \"${SPARK_MASTER:-local[2]}\"}"
export AIRFLOW_VAR_ENCORE_DATA_ROOT="$_encore_data"
# Airflow's logs and its generated admin password are for this user only (mode 0600):
# task logs through Airflow's own permission settings, the password file created empty
# with 0600 before Airflow first writes it (it keeps the mode of an existing file)
export AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS="0o600"
export AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS="0o700"
_encore_pw="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
[ -e "$_encore_pw" ] || (umask 077 && : >"$_encore_pw")
chmod 600 "$_encore_pw"
unset _encore_pw
unset _encore_repo _encore_data
