//! Graceful shutdown: SIGTERM makes a worker finish its batch, commit, leave the group and
//! exit 0; a successor continues from the committed offsets, exactly once overall.

use std::time::{Duration, Instant};

mod support;

use support::WorkerRun;

#[test]
fn sigterm_stops_a_worker_gracefully_and_its_successor_finishes_exactly_once() {
    let run = WorkerRun::prepare("sigterm", 4, 3_000);
    let total = run.expected.len();
    let mut first = run.spec.spawn(0, 0).unwrap();
    assert!(
        run.wait_for(|n| n >= total / 5, Duration::from_secs(30)),
        "no progress\n{}",
        first.log_tail(3000)
    );
    // SIGTERM, as systemd or Kubernetes send it
    let status = std::process::Command::new("kill")
        .args(["-TERM", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = first.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no exit 30 s after SIGTERM\n{}",
            first.log_tail(3000)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}\n{}", first.log_tail(3000));
    assert!(
        run.output_count() < total,
        "the first worker finished everything before the signal"
    );

    let mut second = run.spec.spawn(0, 1).unwrap();
    assert!(
        run.wait_for(|n| n >= total, Duration::from_secs(30)),
        "stalled\n{}",
        second.log_tail(3000)
    );
    assert!(second
        .stop(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let seed = run.seed;
    let (report, cluster) = run.verify();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");
    if let Some(broker) = cluster.embedded_broker() {
        // a graceful stop finishes its transaction: nothing was fenced or timed out
        let counts = broker.transaction_counts();
        assert_eq!((counts.fenced, counts.timed_out), (0, 0), "{counts:?}");
    }
}
