# The README's commands. `make test` is what CI runs.
.PHONY: run test bench build

run:
	go run ./cmd/sessiongated

test:
	go test -race -count=1 -timeout 20m ./...

bench:
	go test -run xxx -bench . -benchmem ./sessions/ ./ring/ ./replication/ ./api/resp/

build:
	CGO_ENABLED=0 go build -trimpath -o bin/sessiongated ./cmd/sessiongated
	CGO_ENABLED=0 go build -trimpath -o bin/sgbench ./cmd/sgbench
