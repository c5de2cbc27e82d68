# The README's commands. `make test` is what CI runs.
.PHONY: run test bench build image

run:
	go run ./cmd/sessiongated

# One package at a time: the node and integration tests time failure detection on real
# sockets, and running them side by side on a small machine makes healthy nodes look dead.
test:
	go test -race -count=1 -p 1 -timeout 30m ./...

bench:
	go test -run xxx -bench . -benchmem ./sessions/ ./ring/ ./wire/ ./replica/ ./replication/ ./api/resp/

build:
	CGO_ENABLED=0 go build -trimpath -o bin/sessiongated ./cmd/sessiongated
	CGO_ENABLED=0 go build -trimpath -o bin/sgbench ./cmd/sgbench

# The image FROM scratch around static binaries (no registry needed). bin/data becomes the
# image's empty /data, owned by the user the node runs as, so a volume mounted there is
# writable by it.
image:
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/sessiongated ./integration/chaos/healthcheck
	mkdir -p bin/data && chmod 700 bin/data
	docker build -t $${SESSIONGATE_IMAGE:-sessiongated:local} .
