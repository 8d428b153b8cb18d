//! [`DatabaseProcessor`]: user logic that writes rows through the batch's transaction.

use std::future::Future;

use kafka_eos_processor::{BoxError, Input};

use crate::dialect::Dialect;

/// User logic for a [`DatabaseSink`](crate::DatabaseSink): one input record in, rows written
/// through `tx`, the open transaction of the record's batch.
///
/// The batch's records are processed one after the other, in input order, and the sink
/// commits their rows and the consumer's next offsets in that one transaction: a crash at any
/// point leaves the database as if a prefix of the input had been processed exactly once,
/// so a non-idempotent write (`balance = balance + amount`) is safe. Do not commit or roll
/// back `tx`, and keep writes outside it (another connection, a service) out of here: they
/// are not rolled back with the batch (see `kafka-eos-idempotency` for those).
///
/// A returned error rolls the whole batch back; the batch runs again (its records decoded
/// again) after a backoff, up to the sink's `max_attempts`, then the sink stops with
/// [`Error::Processor`](crate::Error::Processor) naming the record.
///
/// ```
/// # #[cfg(feature = "postgres")] {
/// use kafka_eos_database::DatabaseProcessor;
/// use kafka_eos_processor::{BoxError, Input};
/// use sqlx::{PgConnection, Postgres};
///
/// #[derive(serde::Deserialize)]
/// struct Payment { account: String, cents: i64 }
///
/// struct Balances;
///
/// impl DatabaseProcessor<Postgres> for Balances {
///     type Input = Payment;
///
///     async fn process(&mut self, input: Input<Payment>, tx: &mut PgConnection) -> Result<(), BoxError> {
///         sqlx::query("INSERT INTO balances (account, cents) VALUES ($1, $2)
///                      ON CONFLICT (account) DO UPDATE SET cents = balances.cents + EXCLUDED.cents")
///             .bind(&input.value.account)
///             .bind(input.value.cents)
///             .execute(&mut *tx)
///             .await?;
///         Ok(())
///     }
/// }
/// # }
/// ```
pub trait DatabaseProcessor<DB: Dialect>: Send + 'static {
    /// The decoded input type (see [`Codec`](kafka_eos_processor::Codec)).
    type Input: Send + 'static;

    /// Processes one record, writing through `tx`.
    fn process(
        &mut self,
        input: Input<Self::Input>,
        tx: &mut DB::Connection,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}
