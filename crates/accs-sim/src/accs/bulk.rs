//! `POST /V1/async/bulk/products` (ACCS's bulk route, AdobeDocs
//! `bulk-endpoints.md`: `/async/bulk` after `V1`) and the bulk status
//! endpoints `GET /V1/bulk/{uuid}/detailed-status`, `/status` and
//! `/operation-status/{status}` (`operation-status-endpoints.md`).
//!
//! The accept is all or nothing, as Magento's: `AsynchronousRequestProcessor::
//! process` calls `Asynchronous\InputParamsResolver::resolve`, which runs
//! `ServiceInputProcessor::process` on every element (`foreach ($inputData as
//! $key => $singleEntityParams)`) before it returns, and only then hands the
//! resolved list to `MassSchedule::publishMass`; an element that fails throws
//! out of the loop, so the request is answered with that error and nothing is
//! published. A success is `RestResponse::STATUS_CODE_202` with the
//! `AsyncResponseInterface` (`bulk_uuid`, `request_items`, `errors`).
//! `publishMass` itself queues element by element: one whose operation it
//! cannot create is `rejected` in `request_items` while the others are
//! queued, and the answer is still 202, `errors: true` (the `publish_rejects`
//! fault; `AsynchronousRequestProcessor` catches the `BulkException`).

use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Call;
use crate::bulk::{self, TOPIC};
use crate::magento;
use crate::state::Shared;
use crate::types::{Bulk, Operation};

/// The synchronous operation each element is the body of.
const ITEM_OPERATION: (&str, &str) = ("POST", "/V1/products");

/// `Bulk summary` owner: ACCS calls are an integration's (`user_type` 1,
/// `UserContextInterface::USER_TYPE_INTEGRATION`, as `operation-status-endpoints.md` lists).
const USER_TYPE_INTEGRATION: u64 = 1;
const USER_ID: u64 = 1;

pub(super) fn accept(shared: &Shared, call: &Call<'_>) -> magento::Result {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return Err(magento::decoding_error());
    };
    // `Rest\Request::getBodyParams` casts the decoded body to a PHP array:
    // an object's values are the elements, a scalar is a list of one; and
    // `resolve` skips an element that is not an array (`if
    // (!is_array($singleEntityParams)) continue;`).
    let elements: Vec<Value> = match body {
        Value::Array(items) => items,
        Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
        Value::Null => vec![],
        scalar => vec![scalar],
    };
    let limit = shared.lock().faults.bulk_max_entities;
    if let Some(max) = limit.filter(|max| elements.len() > *max) {
        return Err(too_many(max));
    }
    super::limits::list(shared, super::limits::PRODUCT, elements.len())?;
    let items: Vec<Value> = elements
        .into_iter()
        .filter(|e| e.is_object() || e.is_array())
        .collect();
    let (method, path) = ITEM_OPERATION;
    for item in &items {
        let bytes = item.to_string();
        crate::contract::input::check(method, path, path, None, bytes.as_bytes())?;
    }
    let uuid = uuid_v4();
    let rejects = shared.lock().faults.publish_rejects.clone();
    let mut request_items = Vec::with_capacity(items.len());
    let mut queued = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let sku = item["product"]["sku"].as_str().unwrap_or_default();
        match rejects.iter().find(|r| r.sku == sku) {
            // `ItemStatus::setErrorMessage`/`setErrorCode` of the exception:
            // its message and code (0 for a `LocalizedException`).
            Some(r) => request_items.push(json!({
                "id": i,
                "status": "rejected",
                "error_message": r.message,
                "error_code": 0,
            })),
            None => {
                request_items.push(json!({
                    "id": i,
                    "data_hash": hex_sha256(&bulk::message(&item)),
                    "status": "accepted",
                }));
                queued.push(item);
            }
        }
    }
    let errors = queued.len() < request_items.len();
    shared
        .lock()
        .bulks
        .accept(uuid.clone(), queued, std::time::Instant::now());
    Ok(magento::json(
        StatusCode::ACCEPTED,
        &json!({ "bulk_uuid": uuid, "request_items": request_items, "errors": errors }),
    ))
}

/// ACCS's refusal of more entities than "Maximum Entities per Bulk Request".
/// Its text is not published (AdobeDocs' `bulk-endpoints.md` and the Admin
/// guide's "Bulk API" page name the setting only); this is Magento's own
/// web-API list limit's message (`Magento\Framework\Webapi\Validator\
/// EntityArrayValidator::validateComplexArrayType`: `Maximum items of type
/// "%type" is %max`), the limit the asynchronous resolver sets per route.
fn too_many(max: usize) -> magento::Error {
    magento::error(
        StatusCode::BAD_REQUEST,
        "Maximum items of type \"%type\" is %max",
        json!({ "type": "Magento\\Catalog\\Api\\Data\\ProductInterface", "max": max.to_string() }),
    )
}

/// `BulkOperationsStatus::getBulkDetailedStatus`: the summary and every
/// operation in full (`OperationInterface`), by ascending id.
pub(super) fn detailed_status(shared: &Shared, uuid: &str) -> magento::Result {
    let inner = shared.lock();
    let bulk = inner.bulks.find(uuid).ok_or_else(|| not_found(uuid))?;
    let ops: Vec<Value> = bulk
        .operations
        .iter()
        .map(|op| {
            json!({
                "id": op.id,
                "bulk_uuid": bulk.bulk_uuid,
                "topic_name": TOPIC,
                "serialized_data": bulk::serialized_data(op),
                "result_serialized_data": bulk::result_serialized_data(op),
                "status": op.status,
                "result_message": op.result_message,
                "error_code": op.error_code,
            })
        })
        .collect();
    Ok(magento::ok(&summary(bulk, ops)))
}

/// `BulkOperationsStatus::getBulkShortStatus`: the summary and each
/// operation's `OperationStatusInterface` fields only.
pub(super) fn short_status(shared: &Shared, uuid: &str) -> magento::Result {
    let inner = shared.lock();
    let bulk = inner.bulks.find(uuid).ok_or_else(|| not_found(uuid))?;
    let ops: Vec<Value> = bulk.operations.iter().map(short).collect();
    Ok(magento::ok(&summary(bulk, ops)))
}

/// `BulkOperationsStatus::getOperationsCountByBulkIdAndStatus`: a count of
/// the bulk's operations in `status`; an unknown bulk simply has none (the
/// method filters operations and never loads the bulk).
pub(super) fn count(shared: &Shared, uuid: &str, status: &str) -> magento::Result {
    // The input processor has already refused a status that is not numeric;
    // PHP's `(int)` of the rest truncates.
    let status = status.trim().parse::<f64>().map_or(-1, |s| s as i64);
    let inner = shared.lock();
    let n = inner.bulks.find(uuid).map_or(0, |b| {
        b.operations
            .iter()
            .filter(|op| i64::from(op.status) == status)
            .count()
    });
    Ok(magento::ok(&json!(n)))
}

fn short(op: &Operation) -> Value {
    json!({
        "id": op.id,
        "status": op.status,
        "result_message": op.result_message,
        "error_code": op.error_code,
    })
}

fn summary(bulk: &Bulk, operations: Vec<Value>) -> Value {
    json!({
        "operations_list": operations,
        "user_type": USER_TYPE_INTEGRATION,
        "bulk_id": bulk.bulk_uuid,
        // `MassSchedule::publishMass`: `__('Topic %1', $topicName)`.
        "description": format!("Topic {TOPIC}"),
        "start_time": bulk.start_time,
        "user_id": USER_ID,
        "operation_count": bulk.operations.len(),
    })
}

/// `NoSuchEntityException('Bulk uuid %bulkUuid not exist')`, which
/// `ErrorProcessor` answers with 404.
fn not_found(uuid: &str) -> magento::Error {
    magento::error(
        StatusCode::NOT_FOUND,
        "Bulk uuid %bulkUuid not exist",
        json!({ "bulkUuid": uuid }),
    )
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random (version 4) UUID, as Magento's `IdentityGeneratorInterface`
/// (`Framework\DataObject\IdentityService::generateId`, ramsey/uuid `uuid4`).
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("OS randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
