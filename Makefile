# MiniTorrent. `make demo` shows the main job; `make test` runs every test.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: build test check bench bench-swarm fuzz install demo clean

build:
	$(CARGO) build --release

test:
	$(CARGO) test --profile tests

# The parser properties of `make test` at 100,000 cases each.
fuzz:
	PROPTEST_CASES=100000 $(CARGO) test --profile tests --test parsers

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(MAKE) test
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

bench: build
	$(CARGO) bench --bench hashing -- --quick
	bash benches/storage.sh
	bash benches/swarm.sh
	bash benches/tracker.sh
	bash benches/dht.sh
	bash benches/ratelimit.sh
	bash benches/webseed.sh
	bash benches/create_v2.sh

# One seed and 16 downloaders, each on a host of its own (network namespaces, 40 mbit
# links), for mt and for libtorrent in the same run. Needs root.
bench-swarm: build
	/usr/bin/python3 benches/swarm_hosts.py --downloaders 16 --size-mib 64 --rate 40 --runs 3
	/usr/bin/python3 benches/swarm_hosts.py --downloaders 16 --size-mib 64 --rate 40 --runs 3 \
		--seed-arg --super-seed

install:
	$(CARGO) install --locked --path .

demo: build
	bash scripts/demo.sh

clean:
	$(CARGO) clean
