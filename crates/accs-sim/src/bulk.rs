//! The accepted bulk requests and the consumers that apply their operations.
//!
//! Modelled on Magento's asynchronous operations: `MassSchedule::publishMass`
//! saves one operation per element, status 4 (open), in request order, and a
//! consumer (`async.operations.all`, AdobeDocs `asynchronous-web-endpoints.md`:
//! it "reads the messages from the queue and executes them one-by-one") runs
//! `ProductRepository::save` on each and records the outcome
//! (`Magento\AsynchronousOperations\Model\OperationProcessor::process`).
//!
//! The consumers are simulated, not run: there is no task. Each operation is
//! given a start and an end when a consumer is free for it (`bulk_consumers`
//! of them, each `product_save_latency_ms` per save, taking operations in
//! queue order), and whatever has ended by now is applied, in the order the
//! operations ended, at the start of every ACCS request and on every read of
//! the bulks ([`advance`]). So the outcome depends only on the times of the
//! calls, never on a scheduler: with no latency, every operation has ended by
//! the next request, and a status read right after the accept sees them all
//! complete; a test that holds the consumers (`bulk_hold`) sees them all open.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::save::save;
use crate::seed::Catalog;
use crate::types::{Bulk, Faults, Operation};

/// `Magento\AsynchronousOperations\Api\Data\OperationInterface::STATUS_TYPE_*`.
pub(crate) const COMPLETE: u8 = 1;
pub(crate) const RETRIABLY_FAILED: u8 = 2;
pub(crate) const NOT_RETRIABLY_FAILED: u8 = 3;
pub(crate) const OPEN: u8 = 4;
/// `OperationInterface::STATUS_TYPE_REJECTED` (AdobeDocs `operation-status-endpoints.md`: 5 = Rejected).
pub(crate) const REJECTED: u8 = 5;

/// The topic WebapiAsync gives `POST /V1/products`
/// (`WebapiAsync\Model\Config::getTopicName`: `async.` + the service
/// interface, lower case, dotted + method + HTTP method), as AdobeDocs'
/// `operation-status-endpoints.md` spells these.
pub(crate) const TOPIC: &str = "async.magento.catalog.api.productrepositoryinterface.save.post";

/// `OperationProcessor::executeHandler`: `sprintf('Service execution success %s::%s', ...)`
/// of the handler, as `operation-status-endpoints.md` shows it for a product save.
pub(crate) const SUCCESS: &str =
    "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save";

/// `Magento\Catalog\Model\Product\Attribute\Backend\Sku::validate` of an empty SKU.
const SKU_EMPTY: &str = "The \"sku\" attribute value is empty. Set the attribute and try again.";

#[derive(Default)]
pub(crate) struct Bulks {
    pub list: Vec<Bulk>,
    next_operation_id: u64,
    /// Not started yet, in queue order: (bulk index, operation index, accepted at).
    queue: VecDeque<(usize, usize, Instant)>,
    /// Started: (ends at, bulk index, operation index).
    running: Vec<(Instant, usize, usize)>,
    /// When each consumer is free again; `None`: free since the start.
    free_at: Vec<Option<Instant>>,
    /// When the consumers were last released from `bulk_hold`: nothing starts before.
    resumed_at: Option<Instant>,
}

impl Bulks {
    /// Schedules one bulk of `requests`, all open; returns its index in [`Bulks::list`].
    pub fn accept(&mut self, uuid: String, requests: Vec<Value>, now: Instant) -> usize {
        let index = self.list.len();
        let operations = requests
            .into_iter()
            .enumerate()
            .map(|(i, request)| {
                self.next_operation_id += 1;
                self.queue.push_back((index, i, now));
                Operation {
                    id: self.next_operation_id,
                    status: OPEN,
                    request,
                    result_message: None,
                    error_code: None,
                    saved: None,
                }
            })
            .collect();
        self.list.push(Bulk {
            bulk_uuid: uuid,
            start_time: crate::time::now(),
            operations,
        });
        index
    }

    pub fn find(&self, uuid: &str) -> Option<&Bulk> {
        self.list.iter().find(|b| b.bulk_uuid == uuid)
    }

    /// The consumers were released from `bulk_hold` at `now`.
    pub fn resumed(&mut self, now: Instant) {
        self.resumed_at = Some(now);
    }
}

/// Applies every operation the consumers have finished by `now`.
/// Takes the parts of the simulator's state it works on, not the state
/// itself, so that `state.rs` may hold the bulks without a circle.
pub(crate) fn advance(bulks: &mut Bulks, catalog: &mut Catalog, faults: &Faults, now: Instant) {
    if faults.bulk_hold {
        return;
    }
    let consumers = faults.bulk_consumers.max(1);
    let latency = Duration::from_millis(faults.product_save_latency_ms);
    bulks.free_at.resize(consumers, None);
    // Start what a free consumer would have taken by now, in queue order.
    while let Some(&(b, o, accepted)) = bulks.queue.front() {
        let (slot, free) = bulks
            .free_at
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| **f)
            .map(|(i, f)| (i, *f))
            .expect("at least one consumer");
        let start = [Some(accepted), free, bulks.resumed_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(accepted);
        if start > now {
            break;
        }
        let end = start + latency;
        bulks.free_at[slot] = Some(end);
        bulks.running.push((end, b, o));
        bulks.queue.pop_front();
    }
    // Apply what has ended, in the order it ended (ties: queue order).
    bulks
        .running
        .sort_by_key(|&(end, b, o)| (end, bulks.list[b].operations[o].id));
    let ended = bulks
        .running
        .iter()
        .take_while(|(end, ..)| *end <= now)
        .count();
    for (_, b, o) in bulks.running.drain(..ended).collect::<Vec<_>>() {
        apply(catalog, faults, &mut bulks.list[b].operations[o]);
    }
}

/// One operation through `ProductRepository::save`, recorded as
/// `OperationProcessor::process` records it: status 1 with the service's
/// success message and the saved product serialized; a failure is status 3
/// (2 when retriable) with the exception's message and code (0: Magento's
/// `LocalizedException` carries none).
fn apply(catalog: &mut Catalog, faults: &Faults, op: &mut Operation) {
    let fields = op.request["product"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let sku = match fields.get("sku") {
        Some(Value::String(s)) => s.clone(),
        // A scalar given for a string: the input processor casts it.
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let outcome = if sku.is_empty() {
        Err((NOT_RETRIABLY_FAILED, SKU_EMPTY.to_owned()))
    } else if let Some(r) = faults.rejected_operations.iter().find(|r| r.sku == sku) {
        Err((REJECTED, r.message.clone()))
    } else {
        save(catalog, &faults.save_failures, &sku, &fields).map_err(|f| {
            let status = if f.retriable {
                RETRIABLY_FAILED
            } else {
                NOT_RETRIABLY_FAILED
            };
            (status, f.rendered())
        })
    };
    match outcome {
        Ok(saved) => {
            op.status = COMPLETE;
            op.result_message = Some(SUCCESS.to_owned());
            op.error_code = None;
            op.saved = Some(saved);
        }
        Err((status, message)) => {
            op.status = status;
            op.result_message = Some(message);
            op.error_code = Some(0);
        }
    }
}

/// `serialized_data` as `MassSchedule::publishMass` writes it: the entity's
/// message under `meta_information`, as a JSON string inside a JSON string.
/// `OperationProcessor::process` passes `null` for it once an operation has
/// succeeded (`$serializedData = isset($errorCode) ? ... : null`, then
/// `OperationManagement::changeOperationStatus` sets it), so a complete
/// operation has none; read its SKU from `result_serialized_data`.
pub(crate) fn serialized_data(op: &Operation) -> Value {
    if op.status == COMPLETE {
        return Value::Null;
    }
    let envelope = json!({
        "entity_id": null,
        "entity_link": "",
        "meta_information": message(&op.request),
    });
    Value::String(envelope.to_string())
}

/// The element as the simulator stores and hashes it: compact JSON, keys in
/// sorted order (serde_json's map). Magento hashes its own encoding of the
/// message (PHP `json_encode` of the resolved parameters), which a client
/// cannot reproduce either; `data_hash` is only ever compared with itself.
pub(crate) fn message(request: &Value) -> String {
    request.to_string()
}

/// `result_serialized_data`: the saved product as the synchronous call answers it.
pub(crate) fn result_serialized_data(op: &Operation) -> Value {
    op.saved
        .as_ref()
        .map_or(Value::Null, |p| Value::String(p.to_string()))
}
