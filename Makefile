# The two commands: `make dev` runs the service locally, `make test` runs every check.
.PHONY: dev test migrate token search-index reindex reconcile sam-build bench

dev:
	@infra/scripts/dev.sh

test:
	@infra/scripts/test.sh

migrate:
	@infra/scripts/migrate.sh

search-index:
	@infra/scripts/admin.sh create-index

reindex:
	@infra/scripts/admin.sh reindex

reconcile:
	@infra/scripts/admin.sh reconcile

token:
	@USER_ID="$(if $(filter command line,$(origin USER)),$(USER))" ORG_ID="$(ORG)" ROLES="$(ROLES)" infra/scripts/token.sh

# sam validate --lint and sam build (x86_64, into .local/sam): proves the template builds.
sam-build:
	@infra/scripts/sam-build.sh

# Release binaries, then cold start, memory, warm latency, streaming, sizes and micro-benchmarks:
# one table, also written to bench-results/ (Markdown and JSON).
bench:
	@infra/bench/run.sh
