//! A user's service: one fee record per order event, keyed by order id (the README's quick
//! start), with the pipeline built in one place so the service and its tests share it.

use kafka_eos_processor::{
    BoxError, Input, JsonCodec, Output, Pipeline, PipelineBuilder, Processor,
};

/// An order event, as JSON on the input topic.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// The order id (the record key).
    pub id: u64,
    /// The amount, in cents.
    pub amount_cents: u64,
}

/// The fee of an order: 3% of its amount, in cents, rounded down.
pub fn fee_cents(order: &Order) -> u64 {
    order.amount_cents * 3 / 100
}

/// One fee record per order event to `output`, keyed by order id.
#[derive(Debug)]
pub struct Fees {
    /// The output topic.
    pub output: String,
}

impl Processor for Fees {
    type Input = Order;

    async fn process(&self, input: Input<Order>) -> Result<Vec<Output>, BoxError> {
        let order = input.value;
        let fee = fee_cents(&order).to_string();
        Ok(vec![Output::new(&self.output, order.id.to_string(), fee)])
    }
}

/// The service's pipeline: `input` -> [`Fees`] -> `output`, exactly once.
pub fn pipeline(
    bootstrap: &str,
    group: &str,
    input: &str,
    output: &str,
) -> kafka_eos_processor::Result<Pipeline<Fees, JsonCodec<Order>>> {
    PipelineBuilder::new()
        .bootstrap_servers(bootstrap)
        .group_id(group)
        .input_topic(input)
        .app_name("order-fees")
        .build(
            Fees {
                output: output.to_owned(),
            },
            JsonCodec::<Order>::new(),
        )
}
