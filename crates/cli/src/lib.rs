//! kafka-eos-cli
