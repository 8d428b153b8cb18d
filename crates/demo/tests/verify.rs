//! `kafka-eos-demo verify` against the embedded broker (or the cluster in
//! `KAFKA_BOOTSTRAP_SERVERS`): a clean output passes, a duplicate fails, and so does a
//! dead letter that is also in the output.

use kafka_eos_demo::orders::{expected_results, generate, input_records};
use kafka_eos_demo::verify::{self, VerifyArgs};
use kafka_eos_testkit::{write_records, Cluster};

#[test]
fn verify_reports_a_clean_and_a_broken_output() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let input = cluster.unique_topic("verify-in");
    let output = cluster.unique_topic("verify-out");
    let dlq = cluster.unique_topic("verify-dlq");
    cluster.create_topic(&input, 2).unwrap();
    cluster.create_topic(&output, 2).unwrap();
    cluster.create_topic(&dlq, 1).unwrap();
    let events = generate(50, 1);
    write_records(&bootstrap, &input, &input_records(&events)).unwrap();
    let results = expected_results(&events);
    write_records(&bootstrap, &output, &results).unwrap();
    let args = VerifyArgs {
        bootstrap: bootstrap.clone(),
        input: input.clone(),
        output: output.clone(),
        dlq: dlq.clone(),
        idle_ms: 500,
    };
    let clean = verify::run(&args).unwrap();
    assert!(clean.holds(), "{clean}");
    // a duplicate makes it fail
    write_records(&bootstrap, &output, &results[..1]).unwrap();
    let broken = verify::run(&args).unwrap();
    assert_eq!(broken.output.duplicates, 1, "{broken}");
    assert!(!broken.holds());
    // an input record both dead-lettered and in the output
    let inputs = input_records(&events);
    write_records(&bootstrap, &dlq, &inputs[1..2]).unwrap();
    let both = verify::run(&args).unwrap();
    assert!(both.output.unexpected >= 1, "{both}");
}
