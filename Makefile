# The README's two commands, the benchmarks, and the lock refresh.
.PHONY: run test bench lock vendor translations
run:
	pip install -c constraints.txt -e . && geo-service demo && geo-service serve
test:
	sh test.sh
bench:
	python bench/registry.py && python bench/lookup.py && python bench/cases.py && python bench/streams.py && python bench/workers.py && python bench/nearest.py
# Re-resolve every dependency to today's newest allowed by pyproject.toml in a fresh venv,
# run the whole suite there, and only then write constraints.txt (then pin the same
# setuptools in pyproject.toml's build-system: tests/test_install.py checks they agree).
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install -q -U setuptools
	.lock-venv/bin/pip install -q -e ".[dev]"
	.lock-venv/bin/python -m pytest -q
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/pip freeze --all --exclude-editable \
	  | grep -v -e '^-e' -e '^pip=='; } > constraints.new && mv constraints.new constraints.txt
	rm -rf .lock-venv
# Front-end libraries from npm at the versions pinned in tools/vendor.py, with licenses and
# a manifest of hashes (static/vendor/VENDORED.json) that a test checks.
vendor:
	python3 tools/vendor.py
# The server's strings (the wall's): extract, merge into each language's catalogue, compile;
# commit the .po and .mo (tests/test_wall.py checks they are in step with the code).
translations:
	pybabel extract -F babel.cfg --no-location --omit-header -o messages.pot .
	pybabel update -i messages.pot -d geo_service/translations --ignore-obsolete --no-fuzzy-matching
	pybabel compile -d geo_service/translations
	rm messages.pot
