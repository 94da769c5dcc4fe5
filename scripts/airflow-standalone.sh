#!/usr/bin/env bash
# `make airflow`: Airflow on this machine (airflow standalone: scheduler, DAG processor,
# API server + UI, triggerer; LocalExecutor, SQLite in var/airflow) with Encore's DAGs,
# the spark_default connection and the jobs environment wired in.
#
#   AIRFLOW_PORT=8080        where the UI listens (loopback only)
#   ENCORE_DATA_ROOT=DIR     the data root (default: var/demo after `make demo`, else conf's var/data)
#   SPARK_MASTER=local[2]    the spark_default connection's master (e.g. spark://host:7077)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
port="${AIRFLOW_PORT:-8080}"
if [ -z "${ENCORE_DATA_ROOT:-}" ]; then
  if [ -d var/demo ]; then ENCORE_DATA_ROOT="$repo/var/demo"; else ENCORE_DATA_ROOT="$repo/var/data"; fi
fi
# shellcheck source=scripts/airflow-env.sh
source scripts/airflow-env.sh "${AIRFLOW_HOME:-$repo/var/airflow}" "$ENCORE_DATA_ROOT"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$port"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$port"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is taken: run with AIRFLOW_PORT=<another port> make airflow" >&2
  exit 1
fi

log="$AIRFLOW_HOME/standalone.log"
# the log shows the generated admin password: this user only
(umask 077 && : >"$log") && chmod 600 "$log"
# the database first, then the one-slot pool the facts and campaign tasks share (one
# privacy-budget release at a time), before the scheduler could see a task in it
echo "preparing Airflow's database (log: $log) ..."
"$repo/.venv-airflow/bin/airflow" db migrate >>"$log" 2>&1
"$repo/.venv-airflow/bin/airflow" pools set encore_privacy_budget 1 \
  "Encore: one privacy-budget release at a time (facts, campaign)" >>"$log" 2>&1
echo "starting Airflow (log: $log) ..."
"$repo/.venv-airflow/bin/airflow" standalone >>"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' INT TERM EXIT

up=""
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null 2>&1; then up=1; break; fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 1
done
if [ -z "$up" ]; then
  echo "Airflow did not come up on port $port; last lines of $log:" >&2
  tail -20 "$log" >&2
  exit 1
fi
pwfile="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
# encore_campaign's last task writes the run's note through the REST API (Airflow 3
# tasks have no database access): the connection it uses, this server as admin
if [ -s "$pwfile" ]; then
  "$repo/.venv-airflow/bin/airflow" connections delete encore_airflow_api >>"$log" 2>&1 || true
  "$repo/.venv-airflow/bin/airflow" connections add encore_airflow_api --conn-type http \
    --conn-host "http://127.0.0.1:$port" --conn-login admin \
    --conn-password "$("$repo/.venv-airflow/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$pwfile")" \
    >>"$log" 2>&1 || echo "could not create the connection encore_airflow_api (campaign run notes stay unset); see $log" >&2
fi
cat <<MSG

  Encore on Airflow is up:  http://127.0.0.1:$port
  log in as:                admin / $( [ -f "$pwfile" ] && "$repo/.venv-airflow/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$pwfile" || echo "(see $pwfile)")
  DAGs:                     encore_yearly, encore_campaign (Trigger -> the marketing form), encore_data_request
  data root:                $AIRFLOW_VAR_ENCORE_DATA_ROOT   (ENCORE_DATA_ROOT=... make airflow to change it)
  Spark:                    spark_default = ${SPARK_MASTER:-local[2]}, spark-submit from $ENCORE_SPARK_SUBMIT
  Ctrl-C stops Airflow.

MSG
wait "$pid"
