# kafka-eos: `just` is the single entry point (install: `cargo install just` or `pip install rust-just`).
# Every recipe is a plain cargo command, so nothing here is required to build or test.

default: test

# The demo: order events through the exactly-once pipeline, workers killed and restarted, verified.
demo *ARGS:
    cargo run --release -p kafka-eos-cli -- demo {{ARGS}}

# All tests (unit, broker, end-to-end) on the embedded broker.
test:
    cargo nextest run --workspace

# Unit tests only.
test-unit:
    cargo nextest run --workspace --lib

# The end-to-end suites only.
test-e2e:
    cargo nextest run -p kafka-eos-integration-tests

# The end-to-end suites against a running cluster, e.g. `just test-external 127.0.0.1:9092`.
test-external BOOTSTRAP:
    KAFKA_BOOTSTRAP_SERVERS={{BOOTSTRAP}} cargo nextest run -p kafka-eos-integration-tests

# The end-to-end suites against Apache Kafka in Docker (testcontainers; needs a Docker engine).
test-docker:
    KAFKA_EOS_TESTCONTAINERS=1 cargo nextest run -p kafka-eos-integration-tests --features kafka-eos-testkit/testcontainers

# Run the embedded broker in the foreground.
broker PORT="9092" PARTITIONS="1":
    cargo run --release -p kafka-eos-broker -- --port {{PORT}} --default-partitions {{PARTITIONS}}

# Pipeline benchmark: exactly-once vs at-least-once vs a hand-written transactional loop.
bench:
    cargo bench -p kafka-eos-processor --bench pipeline_modes

# Broker benchmark: the embedded broker vs librdkafka's mock cluster.
bench-broker:
    cargo bench -p kafka-eos-broker --bench broker_throughput

# Formatting, lints and docs, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# What CI runs.
ci:
    bash .ci/run
