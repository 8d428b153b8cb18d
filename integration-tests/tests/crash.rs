//! Crash suite: worker processes killed with SIGKILL at random moments and restarted with
//! the same `--instance`; the output is still exactly f(input).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use kafka_eos_integration_tests::{
    order_records, seed, wait_until, Collector, Names, WorkerProcess, WorkerSpec,
};
use kafka_eos_testkit::{verify_topic, write_records, Cluster};
use rand::{Rng, SeedableRng};

const ORDERS: u64 = 14_000;
const PARTITIONS: i32 = 8;
const WORKERS: u32 = 2;
const KILLS: usize = 6;
const PAUSE_EVERY: u64 = 5;

fn logs(workers: &[WorkerProcess]) -> String {
    workers
        .iter()
        .map(|w| w.log_tail(3000))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sigkilled_workers_restart_and_the_output_stays_exactly_once() {
    let seed = seed();
    eprintln!("seed {seed} (replay with EOS_TEST_SEED={seed})");
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Names::create(&cluster, "crash", PARTITIONS).unwrap();

    let (_, input, expected) = order_records(ORDERS, seed);
    assert!(input.len() >= 50_000, "only {} input records", input.len());
    write_records(&bootstrap, &names.input, &input).unwrap();

    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let spec = WorkerSpec::new(
        env!("CARGO_BIN_EXE_eos-worker"),
        bootstrap.clone(),
        names.clone(),
    )
    .unwrap();
    let mut spec = spec;
    // Simulated per-record work and smallish transactions: a consuming worker is inside a
    // transaction almost all the time, so kills land mid-transaction (the open
    // transaction is aborted when the next life fences it).
    spec.commit_records = 200;
    spec.pause_every = PAUSE_EVERY;
    let mut workers: Vec<WorkerProcess> = (0..WORKERS).map(|i| spec.spawn(i, 0).unwrap()).collect();

    // Kill at random points of the progress, so every kill lands while work remains; the
    // victim is one of the workers consuming at that moment (a kill of a worker still
    // joining the group, or of one whose partitions are drained, would test little).
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut thresholds: Vec<usize> = (0..KILLS)
        .map(|_| (rng.gen_range(0.05..0.75) * expected.len() as f64) as usize)
        .collect();
    thresholds.sort_unstable();
    let started = Instant::now();
    let mut kills = 0;
    for threshold in &thresholds {
        let reached = wait_until(
            || progress.count_of(&names.output),
            |n| n >= *threshold && workers.iter().any(WorkerProcess::is_consuming),
            Duration::from_secs(30),
        );
        let done = progress.count_of(&names.output);
        assert!(
            reached,
            "no progress for 30 s at {done} of {} results (waiting for {threshold}, {kills} kills so far)\n{}",
            expected.len(),
            logs(&workers)
        );
        assert!(
            done < expected.len(),
            "all {done} results were written before kill {} could land; the run is too fast for its kill schedule",
            kills + 1
        );
        let consuming: Vec<usize> = (0..workers.len())
            .filter(|i| workers[*i].is_consuming())
            .collect();
        let victim = consuming[rng.gen_range(0..consuming.len())];
        let w = &mut workers[victim];
        // SIGKILL: no clean-up, no graceful leave, a transaction possibly open
        w.kill().unwrap();
        kills += 1;
        eprintln!(
            "kill {kills}: worker {} life {} at {done} results ({:?})",
            w.instance,
            w.life,
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..300)));
        let (instance, life) = (w.instance, w.life + 1);
        *w = spec.spawn(instance, life).unwrap();
    }
    assert!(kills >= 5, "only {kills} kills");

    let finished = wait_until(
        || progress.count_of(&names.output),
        |n| n >= expected.len(),
        Duration::from_secs(30),
    );
    let read_live = progress.count_of(&names.output);
    drop(progress.stop(&names.output, &names.dlq));
    assert!(
        finished,
        "stalled at {read_live} of {} results\n{}",
        expected.len(),
        logs(&workers)
    );
    eprintln!("all results after {:?}", started.elapsed());

    // Graceful stop: the last lives exit 0.
    for w in &mut workers {
        let status = w.stop(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "worker {} did not stop gracefully: {status:?}\n{}",
            w.instance,
            w.log_tail(3000)
        );
    }

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert!(report.is_exactly_once(), "{report} (seed {seed})");

    if let Some(broker) = cluster.embedded_broker() {
        let counts = broker.transaction_counts();
        eprintln!("broker transactions: {counts:?}");
        assert!(counts.committed > 0, "{counts:?}");
        // a killed worker's open transaction is aborted when its next life fences it
        assert!(
            counts.fenced > 0,
            "no kill landed mid-transaction: {counts:?}"
        );
    }
}

/// At-least-once promises less: after SIGKILLs nothing is missing and nothing unexpected
/// appears, each key's first results come in order, but replays may duplicate results.
#[test]
fn at_least_once_loses_nothing_when_workers_are_killed() {
    let seed = seed();
    eprintln!("seed {seed} (replay with EOS_TEST_SEED={seed})");
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let names = Names::create(&cluster, "alo-crash", 4).unwrap();
    let (_, input, expected) = order_records(4_000, seed);
    write_records(&bootstrap, &names.input, &input).unwrap();

    let progress = Collector::start(&bootstrap, &[&names.output]).unwrap();
    let mut spec = WorkerSpec::new(
        env!("CARGO_BIN_EXE_eos-worker"),
        bootstrap.clone(),
        names.clone(),
    )
    .unwrap();
    spec.commit_records = 200;
    spec.pause_every = PAUSE_EVERY;
    spec.at_least_once = true;
    let mut worker = spec.spawn(0, 0).unwrap();
    for (life, fraction) in [(1, 0.2), (2, 0.5)] {
        let threshold = (expected.len() as f64 * fraction) as usize;
        assert!(
            wait_until(
                || progress.count_of(&names.output),
                |n| n >= threshold,
                Duration::from_secs(30)
            ),
            "no progress\n{}",
            worker.log_tail(3000)
        );
        worker.kill().unwrap();
        worker = spec.spawn(0, life).unwrap();
    }
    // Duplicates make the output count a poor measure: wait until the group has consumed
    // and committed the whole input instead.
    let lag = || {
        kafka_eos_cli::lag::run(&kafka_eos_cli::lag::LagArgs {
            bootstrap: bootstrap.clone(),
            group: names.group.clone(),
            topic: names.input.clone(),
        })
        .map_or(usize::MAX, |l| {
            l.iter().map(|p| p.lag.max(0) as usize).sum()
        })
    };
    assert!(
        wait_until(lag, |l| l == 0, Duration::from_secs(40)),
        "stalled at lag {}\n{}",
        lag(),
        worker.log_tail(3000)
    );
    drop(progress.stop(&names.output, &names.dlq));
    let status = worker.stop(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    let report = verify_topic(&bootstrap, &names.output, &expected).unwrap();
    assert_eq!(
        (report.missing, report.unexpected, report.order_violations),
        (0, 0, 0),
        "{report} (seed {seed})"
    );
    eprintln!("at-least-once after 2 kills: {report}");
}
