#!/bin/bash
# 300k commands on the final code against the benchmark's PostgreSQL database (first pass was cut off)
cd /work/wt-final
export PYTHONPATH=/work/wt-final DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_topo_76df0c7a \
  RULES_DIR=/tmp/bench-topology-5ooo1unh/logs-300000/rules STRIPE_API_KEY=sk_test_bench_scale \
  STRIPE_API_BASE=http://127.0.0.1:9 HISTORY_MONTHS=0 LOG_FORMAT=json LOG_LEVEL=warning
for cmd in "evaluate --json" "evaluate --json" "accounts --json" "report --json" "check"; do
  echo "== $cmd  load $(cut -d' ' -f1-3 /proc/loadavg)  $(date -u +%T)"
  /usr/bin/time -f "TIME maxrss_kb=%M user=%U sys=%S wall=%e exit=%x" /work/main/.venv/bin/python -m worker.cli.main $cmd > /tmp/s300/out.txt 2> /tmp/s300/err.txt
  tail -c 300 /tmp/s300/out.txt | tr '\n' ' ' | cut -c1-300; echo
  grep TIME /tmp/s300/err.txt; grep -v TIME /tmp/s300/err.txt | tail -3 | cut -c1-300
done
echo DONE $(date -u +%T)
