# sessionfs — see README.md. `make run` is the demo, `make test` runs every test.
GO      ?= go
BIN     := bin/sessionfs
PREFIX  ?= /usr/local
GOTEST  := $(GO) test -count=1
FUZZTIME ?= 60s

.PHONY: all build run test unit integration deps vet fuzz stress bench bench-codec bench-store bench-mount install clean

all: build

build:
	$(GO) build -o $(BIN) .

# The demo: mounts ./mnt over the hidden backing directory ./.sessions.
run: build
	./$(BIN) demo

# Installs what the tests need (fuse3, python3-django 3.2, Django 4.2 and 5.2
# unpacked into a cache) when missing; as non-root it prints the command.
deps:
	bash integration/scripts/install-deps.sh

vet:
	@fmt=$$(gofmt -l .); \
	  if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

# Every package outside integration/ (go list finds new ones). The codec
# tests run twice: in the default build (zlib through libdeflate, cgo) and in
# the pure-Go build (CGO_ENABLED=0, or -tags without_libdeflate).
UNIT_PKGS = $$($(GO) list ./... | grep -v /integration)
unit:
	$(GOTEST) -race $(UNIT_PKGS)
	CGO_ENABLED=0 $(GOTEST) ./codec/...
	GOMAXPROCS=1 $(GOTEST) -race ./fusefs/...

integration: build
	$(GOTEST) -timeout 45m ./integration/...

test: deps vet unit integration

# Each fuzz target for FUZZTIME (default 60s).
FUZZ_TARGETS := codec:FuzzDecode codec:FuzzDecodeSigned codec:FuzzEncodeRoundTrip codec:FuzzEncodeEdit codec:FuzzInflate \
	codec:FuzzPickle store:FuzzKey store:FuzzSaveEdit
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t#*:}; echo "== $$pkg $$name ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$pkg/; \
	done

# The reliability campaigns in their long form, and one table of their figures.
stress: deps build
	@report=$$(mktemp); \
	SESSIONFS_STRESS=1 SESSIONFS_STRESS_REPORT=$$report $(GOTEST) -run '^TestCampaign' -timeout 60m ./integration/; rc=$$?; \
	$(GO) run ./integration/campaign/report $$report || rc=1; rm -f $$report; exit $$rc

# One table of ratios against Django 3.2, the backing directory and the FUSE
# floors, measured in one run (integration/bench; under 15 minutes as root:
# each part writes its sessions to its own in-memory ext4 image, dropped
# whole). BENCHFLAGS passes flags, e.g. BENCHFLAGS='-scale small' or '-fs dir'.
bench: deps build
	$(GO) test -run='^$$' -bench=. -benchmem ./codec/ ./store/...
	$(GO) run ./integration/bench $(BENCHFLAGS)

# Parts of the same table: the decode rows, the gc rows, the mount rows (with
# the FUSE requests of ls -l under each kernel-cache setting).
bench-codec: deps build
	$(GO) run ./integration/bench -only decode $(BENCHFLAGS)

bench-store: deps build
	$(GO) run ./integration/bench -only gc $(BENCHFLAGS)

bench-mount: deps build
	$(GO) run ./integration/bench -only list,cat,save,memory -requests 1000 $(BENCHFLAGS)

# Debian's paths: man pages under $(PREFIX)/share/man, bash completions
# where bash-completion loads them on demand.
MANDIR        ?= $(PREFIX)/share/man/man1
BASHCOMPDIR   ?= /usr/share/bash-completion/completions
SYSTEMDUNITDIR ?= /etc/systemd/system

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sessionfs
	./$(BIN) generate man > bin/sessionfs.1
	./$(BIN) generate bash-completion > bin/sessionfs.bash-completion
	install -D -m 0644 bin/sessionfs.1 $(DESTDIR)$(MANDIR)/sessionfs.1
	install -D -m 0644 bin/sessionfs.bash-completion $(DESTDIR)$(BASHCOMPDIR)/sessionfs
	sed 's|/usr/local/bin/sessionfs|$(PREFIX)/bin/sessionfs|g' dist/sessionfs@.service > bin/sessionfs@.service
	install -D -m 0644 bin/sessionfs@.service $(DESTDIR)$(SYSTEMDUNITDIR)/sessionfs@.service

clean:
	rm -rf bin
