//! `kafka-eos broker`: the embedded broker as a standalone process, until Ctrl-C.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use kafka_eos_broker::{
    AclRule, BrokerConfig, EmbeddedBroker, FsyncPolicy, TestCertificates, TlsIdentity,
};

use crate::error::CliError;

/// Arguments of `broker`.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, short, default_value_t = 9092, env = "KAFKA_EOS_BROKER_PORT")]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Partition count of auto-created topics.
    #[arg(long, default_value_t = 1)]
    pub default_partitions: i32,
    /// Serve as a cluster of N nodes (node ids 1..N) listening on PORT, PORT+1, ...
    /// (with --port 0, free ports): partition leaders, replicas and the group and
    /// transaction coordinators are spread over the nodes, as in a Kafka cluster.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
    /// Replicas of topics created without a replication factor (default: the node count,
    /// at most 3).
    #[arg(long, value_name = "N")]
    pub default_replication_factor: Option<i32>,
    /// How long a stopped node keeps its leadership before it moves (Kafka's
    /// broker.session.timeout.ms).
    #[arg(long, default_value_t = 9000, value_name = "MS")]
    pub failover_delay_ms: u64,
    /// Refuse to auto-create topics on Metadata requests.
    #[arg(long)]
    pub no_auto_create: bool,
    /// Topics to create at start, as NAME or NAME:PARTITIONS.
    #[arg(long = "topic", value_name = "NAME[:PARTITIONS]")]
    pub topics: Vec<String>,
    /// group.initial.rebalance.delay.ms.
    #[arg(long, default_value_t = 0)]
    pub initial_rebalance_delay_ms: u64,
    /// Serve TLS with certificates generated at start (a CA and a server certificate for
    /// localhost, 127.0.0.1 and --host); writes DIR/ca.pem for clients' ssl.ca.location.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: Option<PathBuf>,
    /// Serve TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and add this user; repeatable.
    /// The env variable takes a comma-separated list.
    #[arg(
        long = "sasl-user",
        value_name = "NAME:PASSWORD",
        env = "KAFKA_EOS_BROKER_SASL_USERS",
        hide_env_values = true,
        value_delimiter = ',',
        value_parser = parse_sasl_user
    )]
    pub sasl_users: Vec<SaslUserArg>,
    /// A super user (allowed everything); turns the authorizer on. Repeatable.
    #[arg(long = "super-user", value_name = "NAME")]
    pub super_users: Vec<String>,
    /// An ACL rule; turns the authorizer on (then anything not allowed is denied).
    /// Repeatable. Grammar: PRINCIPAL_TYPE:NAME:RESOURCE:PATTERN:OPERATION[:allow|:deny],
    /// RESOURCE one of topic, group, transactional-id, cluster; PATTERN a name, `*` for
    /// every name, or NAME* for a prefix; OPERATION one of all, read, write, create,
    /// delete, alter, describe, describe-configs, alter-configs, idempotent-write,
    /// cluster-action. Examples: User:app:topic:orders:write,
    /// User:app:group:orders-*:read, User:*:transactional-id:app-*:write,
    /// User:ops:cluster:kafka-cluster:alter, User:bad:topic:*:all:deny.
    #[arg(long = "acl", value_name = "SPEC", value_parser = parse_acl)]
    pub acls: Vec<AclRule>,
    /// Keep the broker's data in DIR (created if missing) so that it survives a restart,
    /// a crash (SIGKILL) included: record batches (DIR/logs/TOPIC-PARTITION.log), topics and
    /// their configs, transactions, committed group offsets and generations
    /// (DIR/metadata.json). Started again on DIR, the broker recovers them: a torn last
    /// write is cut off, decided transactions are completed, open ones aborted when their
    /// timeout passes. Without it everything stays in memory.
    #[arg(long, value_name = "DIR", env = "KAFKA_EOS_BROKER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: `never` (default) writes reach the operating system before each
    /// answer (they survive a crash of the process, not a power loss, as Kafka's defaults
    /// relying on the page cache); `always` fsyncs each write before answering.
    #[arg(long, value_enum, default_value_t = FsyncArg::Never, requires = "data_dir")]
    pub fsync: FsyncArg,
}

/// `--fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FsyncArg {
    /// Never fsync: survives a process crash, not a power loss.
    Never,
    /// Fsync each log write and metadata save before answering.
    Always,
}

/// A `--sasl-user NAME:PASSWORD`; its `Debug` output hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslUserArg {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for SaslUserArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SaslUserArg({:?}, <redacted>)", self.name)
    }
}

/// Never fails, so that clap never echoes the value (it may hold a password): a malformed
/// spec is refused by [`BrokerArgs::secure_config`] without showing it.
fn parse_sasl_user(spec: &str) -> Result<SaslUserArg, std::convert::Infallible> {
    let (name, password) = spec.split_once(':').unwrap_or(("", ""));
    Ok(SaslUserArg {
        name: name.to_owned(),
        password: password.to_owned(),
    })
}

fn parse_acl(spec: &str) -> Result<AclRule, String> {
    spec.parse()
        .map_err(|e: kafka_eos_broker::Error| e.to_string())
}

impl BrokerArgs {
    /// The broker's configuration.
    pub fn config(&self) -> BrokerConfig {
        let nodes = usize::from(self.nodes);
        let config = BrokerConfig::default()
            .listen(std::net::SocketAddr::new(self.host, self.port))
            .nodes(nodes)
            .default_replication_factor(
                self.default_replication_factor
                    .unwrap_or(nodes.min(3) as i32),
            )
            .failover_delay(Duration::from_millis(self.failover_delay_ms))
            .default_partitions(self.default_partitions)
            .auto_create_topics(!self.no_auto_create)
            .group_initial_rebalance_delay(Duration::from_millis(self.initial_rebalance_delay_ms));
        match &self.data_dir {
            Some(dir) => config.data_dir(dir).fsync(match self.fsync {
                FsyncArg::Never => FsyncPolicy::Never,
                FsyncArg::Always => FsyncPolicy::Always,
            }),
            None => config,
        }
    }

    /// [`config`](Self::config) with the TLS, SASL and ACL flags applied; with
    /// `--tls-self-signed`, also the path of the CA file written for clients.
    pub fn secure_config(&self) -> Result<(BrokerConfig, Option<PathBuf>), CliError> {
        let mut config = self.config();
        let mut ca_file = None;
        if let Some(dir) = &self.tls_self_signed {
            let host = self.host.to_string();
            let mut names = vec!["localhost", "127.0.0.1"];
            if !names.contains(&host.as_str()) {
                names.push(&host);
            }
            let certs = TestCertificates::generate(&names)?;
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::Usage(format!(
                    "cannot create --tls-self-signed {}: {e}",
                    dir.display()
                ))
            })?;
            let path = dir.join("ca.pem");
            certs.write_ca(&path)?;
            config = config.tls(certs.identity());
            ca_file = Some(path);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config = config.tls(TlsIdentity::from_files(cert, key)?);
        }
        for user in &self.sasl_users {
            if user.name.is_empty() || user.password.is_empty() {
                return Err(CliError::Usage(
                    "--sasl-user (or KAFKA_EOS_BROKER_SASL_USERS) expects NAME:PASSWORD with a non-empty name and password (value not shown)"
                        .to_owned(),
                ));
            }
            config = config.sasl_user(&user.name, &user.password);
        }
        for name in &self.super_users {
            config = config.super_user(name);
        }
        for rule in &self.acls {
            config = config.acl(rule.clone());
        }
        Ok((config, ca_file))
    }

    /// The `--topic` specs as (name, partitions); a usage error for a bad count.
    pub fn topics(&self) -> Result<Vec<(String, i32)>, CliError> {
        self.topics
            .iter()
            .map(|spec| match spec.split_once(':') {
                Some((name, p)) => match p.parse::<i32>() {
                    Ok(p) if p >= 1 => Ok((name.to_owned(), p)),
                    _ => Err(CliError::Usage(format!(
                        "bad partition count in --topic {spec:?}"
                    ))),
                },
                None => Ok((spec.clone(), self.default_partitions)),
            })
            .collect()
    }
}

/// The line `run` prints: `bootstrap.servers=HOST:PORT`, then (when not plaintext)
/// `security.protocol=...` and (with `--tls-self-signed`) `ssl.ca.location=...`. Never a
/// password.
fn connection_line(broker: &EmbeddedBroker, ca_file: Option<&std::path::Path>) -> String {
    let mut line = format!("bootstrap.servers={}", broker.bootstrap_servers());
    let protocol = broker.security_protocol();
    if protocol != kafka_eos_broker::SecurityProtocol::Plaintext {
        line.push_str(&format!(" security.protocol={protocol}"));
    }
    if let Some(ca) = ca_file {
        line.push_str(&format!(" ssl.ca.location={}", ca.display()));
    }
    line
}

/// Starts the broker, creates the `--topic`s, prints `bootstrap.servers=HOST:PORT` (with
/// the security protocol and CA file when not plaintext) and serves until Ctrl-C.
pub async fn run(args: &BrokerArgs) -> Result<(), CliError> {
    let topics = args.topics()?;
    let (config, ca_file) = args.secure_config()?;
    let broker = EmbeddedBroker::start(config).await?;
    for (name, partitions) in &topics {
        match broker.create_topic(name, *partitions) {
            // recovered from --data-dir
            Err(kafka_eos_broker::Error::TopicExists(_)) if args.data_dir.is_some() => {
                tracing::info!(topic = %name, "topic kept from the data dir");
            }
            other => other?,
        }
    }
    println!("{}", connection_line(&broker, ca_file.as_deref()));
    tokio::signal::ctrl_c().await?;
    broker.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        broker: BrokerArgs,
    }

    #[test]
    fn topic_specs_parse_with_the_default_partition_count() {
        let cli = Cli::parse_from([
            "x",
            "--default-partitions",
            "3",
            "--topic",
            "orders:8",
            "--topic",
            "results",
        ]);
        assert_eq!(
            cli.broker.topics().unwrap(),
            vec![("orders".to_owned(), 8), ("results".to_owned(), 3)]
        );
        let bad = Cli::parse_from(["x", "--topic", "orders:zero"]);
        assert!(bad
            .broker
            .topics()
            .unwrap_err()
            .to_string()
            .contains("orders:zero"));
    }

    #[test]
    fn data_dir_flags_parse() {
        let cli = Cli::try_parse_from(["x", "--data-dir", "/tmp/k", "--fsync", "always"]).unwrap();
        assert_eq!(
            cli.broker.data_dir.as_deref(),
            Some(std::path::Path::new("/tmp/k"))
        );
        assert_eq!(cli.broker.fsync, FsyncArg::Always);
        assert!(format!("{:?}", cli.broker.config()).contains("/tmp/k"));
        assert!(Cli::try_parse_from(["x", "--fsync", "always"]).is_err());
        assert!(Cli::try_parse_from(["x", "--data-dir", "d", "--fsync", "sometimes"]).is_err());
    }

    #[test]
    fn security_flags_parse() {
        let cli = Cli::try_parse_from([
            "x",
            "--sasl-user",
            "alice:se:cret",
            "--sasl-user",
            "bob:pw",
            "--super-user",
            "admin",
            "--acl",
            "User:app:topic:orders:write",
            "--acl",
            "User:app:group:orders-*:read",
        ])
        .unwrap();
        let b = &cli.broker;
        assert_eq!(b.sasl_users.len(), 2);
        assert_eq!(b.sasl_users[0].name, "alice");
        assert_eq!(b.sasl_users[0].password, "se:cret");
        assert!(!format!("{b:?}").contains("se:cret"));
        assert_eq!(b.super_users, ["admin"]);
        assert_eq!(b.acls[1].name(), "orders-");
        assert_eq!(
            b.acls[1].pattern_type(),
            kafka_eos_broker::PatternType::Prefixed
        );
        let (config, ca) = b.secure_config().unwrap();
        assert!(ca.is_none());
        assert_eq!(config.security_protocol().as_str(), "SASL_PLAINTEXT");
        assert!(config.authorization_enabled());
        assert!(!format!("{config:?}").contains("se:cret"));
    }

    #[test]
    fn bad_security_flags_are_usage_errors_without_the_password() {
        for bad in ["alice-no-password", ":only-a-password", "alice:"] {
            let cli = Cli::try_parse_from(["x", "--sasl-user", bad]).unwrap();
            let e = cli.broker.secure_config().unwrap_err().to_string();
            assert!(e.contains("NAME:PASSWORD"), "{e}");
            assert!(!e.contains("password\"") && !e.contains(bad), "{e}");
        }
        assert!(Cli::try_parse_from(["x", "--acl", "User:app:topic:orders:fly"]).is_err());
        assert!(Cli::try_parse_from(["x", "--tls-cert", "c.pem"]).is_err());
        assert!(Cli::try_parse_from([
            "x",
            "--tls-self-signed",
            "d",
            "--tls-cert",
            "c",
            "--tls-key",
            "k"
        ])
        .is_err());
    }

    #[test]
    fn self_signed_tls_writes_the_ca() {
        let dir = std::env::temp_dir().join(format!("kafka-eos-cli-tls-{}", std::process::id()));
        let cli = Cli::try_parse_from(["x", "--tls-self-signed", dir.to_str().unwrap()]).unwrap();
        let (config, ca) = cli.broker.secure_config().unwrap();
        let ca = ca.unwrap();
        assert_eq!(ca, dir.join("ca.pem"));
        assert!(std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(config.security_protocol().as_str(), "SSL");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_printed_line_names_the_protocol() {
        let cli = Cli::try_parse_from(["x", "--port", "0", "--sasl-user", "a:b"]).unwrap();
        let (config, ca) = cli.broker.secure_config().unwrap();
        let broker = EmbeddedBroker::start(config).await.unwrap();
        let line = connection_line(&broker, ca.as_deref());
        assert_eq!(
            line,
            format!(
                "bootstrap.servers={} security.protocol=SASL_PLAINTEXT",
                broker.bootstrap_servers()
            )
        );
        broker.shutdown().await;
        let plain = EmbeddedBroker::start_default().await.unwrap();
        assert_eq!(
            connection_line(&plain, None),
            format!("bootstrap.servers={}", plain.bootstrap_servers())
        );
        plain.shutdown().await;
    }
}
