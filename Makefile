# The two commands of the README:
#   make run    build everything and serve http://localhost:8080 with the embedded database
#   make test   run the whole test suite against a real PostgreSQL (started by the tests)

.PHONY: run test

run:
	@sh tests/ensure-tools.sh run
	cargo build --release -p chatalot-server
	CHATALOT_REGISTRATION_MODE=$${CHATALOT_REGISTRATION_MODE:-open} ./target/release/chatalot-server

test:
	@sh tests/ensure-tools.sh test
	sh tests/run.sh
