# The two commands of the README:
#   make run    build everything and serve http://localhost:8080 with the embedded database
#   make test   run the whole test suite against a real PostgreSQL (started by the tests)

.PHONY: run test web

run:
	@sh tests/ensure-tools.sh run
	$(MAKE) web
	cargo build --release -p chatalot-server
	CHATALOT_REGISTRATION_MODE=$${CHATALOT_REGISTRATION_MODE:-open} ./target/release/chatalot-server

# The web app: installs its locked dependencies and builds frontend/dist.
web:
	cd frontend && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	cd frontend && npm run build

test:
	@sh tests/ensure-tools.sh test
	sh tests/run.sh
