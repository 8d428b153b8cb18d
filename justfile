# kafka-eos: `just` is the single entry point (install: `cargo install just` or `pip install rust-just`).
# Every recipe is a plain cargo command, so nothing here is required to build or test.

default: test

# The demo: order events through the exactly-once pipeline, workers killed and restarted, verified.
demo *ARGS:
    cargo run --release -p kafka-eos-demo -- {{ARGS}}

# The demo with each worker's metrics served for Prometheus: worker i at http://127.0.0.1:PORT+i/metrics
# (the URLs are printed); point Prometheus at them and import dashboards/kafka-eos.json into Grafana.
demo-metrics PORT="9464" *ARGS:
    cargo run --release -p kafka-eos-demo -- --metrics-addr 127.0.0.1:{{PORT}} {{ARGS}}

# The demo over TLS + SASL/SCRAM-SHA-512 on the embedded broker (certificates and password made for the run).
demo-secure *ARGS:
    cargo run --release -p kafka-eos-demo -- --secure {{ARGS}}

# The demo with the broker failing: killed with SIGKILL and restarted on its data dir, and a
# three-node cluster whose nodes fail over and come back
demo-broker-failures *ARGS:
    cargo run --release -p kafka-eos-demo -- --broker-kills 5 {{ARGS}}
    cargo run --release -p kafka-eos-demo -- --nodes 3 --node-failovers 2 {{ARGS}}

# All tests (unit, broker, end-to-end) on the embedded broker: the README's command.
test:
    cargo test --workspace

# The same tests with cargo-nextest (faster: a process per test, in parallel).
nextest:
    cargo nextest run --workspace

# Unit tests only.
test-unit:
    cargo nextest run --workspace --lib

# The idempotency stores' suites (PostgreSQL, MariaDB and Redis on 127.0.0.1).
test-stores:
    cargo test -p kafka-eos-idempotency

# The end-to-end suites only.
test-e2e:
    cargo nextest run -p kafka-eos-integration-tests -p kafka-eos-demo

# The end-to-end suites against a running cluster, e.g. `just test-external 127.0.0.1:9092`.
test-external BOOTSTRAP:
    KAFKA_BOOTSTRAP_SERVERS={{BOOTSTRAP}} cargo nextest run -p kafka-eos-integration-tests -p kafka-eos-demo

# The end-to-end suites against Apache Kafka in Docker (testcontainers; needs a Docker engine).
test-docker:
    KAFKA_EOS_TESTCONTAINERS=1 cargo nextest run -p kafka-eos-integration-tests -p kafka-eos-demo --features kafka-eos-testkit/testcontainers

# librdkafka's own integration tests (quick mode) against the embedded broker as a 3-node
# cluster: builds librdkafka's test-runner from the vendored source once (needs a C/C++
# toolchain), runs the tests listed in scripts/librdkafka-suite.tests (~11 minutes), or some:
# `just librdkafka-suite 0011 0103`; `--full` for full mode. Results of the last recorded run:
# crates/broker/LIBRDKAFKA_SUITE.md. Not run by CI.
librdkafka-suite *ARGS:
    cargo build -p kafka-eos-cli
    scripts/librdkafka-suite.sh {{ARGS}}

# Run the embedded broker in the foreground.
broker PORT="9092" PARTITIONS="1":
    cargo run --release -p kafka-eos-cli -- broker --port {{PORT}} --default-partitions {{PARTITIONS}}

# The runnable examples (each checks its own result).
examples:
    cargo run -p kafka-eos-examples --example quickstart
    cargo run -p kafka-eos-examples --example dead_letters
    cargo run -p kafka-eos-examples --example kafka_to_postgres
    cargo test -p kafka-eos-examples
    cargo test --manifest-path examples/standalone/Cargo.toml

# Pipeline benchmarks: exactly-once vs at-least-once vs a hand-written transactional loop
# (start-up included), then keyed concurrency, the steady state at 100 ms commits and
# end-to-end latency (~9 minutes).
bench:
    cargo bench -p kafka-eos-processor --bench pipeline_modes
    cargo bench -p kafka-eos-processor --bench keyed

# The metrics endpoint's overhead alone: steady exactly-once copy, endpoint on vs off (~3 minutes).
bench-metrics:
    BENCH_PARTS=metrics cargo bench -p kafka-eos-processor --bench keyed

# Broker benchmarks: the embedded broker vs librdkafka's mock cluster (throughput, plaintext
# vs TLS vs TLS + SCRAM; start-up time).
bench-broker:
    cargo bench -p kafka-eos-broker --bench broker_throughput
    cargo bench -p kafka-eos-broker --bench startup

# Formatting, lints and docs, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# What CI runs.
ci:
    bash .ci/run
