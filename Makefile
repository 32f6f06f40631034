# The two commands of the README:
#   make run    build everything and serve http://localhost:8080 with the embedded database
#   make test   run the whole test suite against a real PostgreSQL (started by the tests)

.PHONY: run test web openapi

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

# After a change of a wire type: rewrites docs/openapi.json (the served document) and the web
# app's types generated from it (frontend/src/lib/api/schema.gen.ts). Tests fail until both
# are current.
openapi:
	CHATALOT_WRITE_OPENAPI=1 cargo test -q -p chatalot-server --lib openapi::tests::the_committed_document_is_the_served_one
	cd frontend && npm run gen:types
