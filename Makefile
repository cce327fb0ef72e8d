# The README's two commands.
.PHONY: run test bench
run:
	pip install -e . && geo-service demo && geo-service serve
test:
	sh test.sh
bench:
	python bench/registry.py && python bench/lookup.py
