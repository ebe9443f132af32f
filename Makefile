# ilvb: `make test` runs the whole suite as CI does; `make bench` runs every benchmark on ilvb and
# Janus (needs root: network namespaces, apt-get for Janus, SCHED_FIFO) and writes
# docs/benchmarks.md and bench/results.json.

PYTHON ?= python3

.PHONY: test bench bench-report

test:
	bash scripts/test.sh

bench:
	$(PYTHON) bench/run_all.py $(BENCH_ARGS)

bench-report:
	$(PYTHON) bench/report.py
