# ilvb: `make test` runs the whole suite as CI does; `make bench` runs every benchmark on ilvb and
# Janus (needs root: network namespaces, apt-get for Janus, SCHED_FIFO) and writes
# docs/benchmarks.md and bench/results.json. BENCH_ARGS passes options to bench/run_all.py,
# e.g. `make bench BENCH_ARGS="--subscribers 1,10,50 --before HEAD~5"`.

PYTHON ?= python3

.PHONY: test bench bench-deps bench-report

test:
	bash scripts/test.sh

# ilvb with its test extras (matplotlib, playwright, py-spy) when they are missing.
bench-deps:
	@$(PYTHON) -c "import ilvb, matplotlib, playwright, psutil" 2>/dev/null || \
		$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'

bench: bench-deps
	$(PYTHON) bench/run_all.py $(BENCH_ARGS)

bench-report:
	$(PYTHON) bench/report.py
