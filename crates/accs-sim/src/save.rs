//! `ProductRepository::save` as the simulator runs it for both paths that
//! save a product: `PUT /V1/products/{sku}` (`accs/products.rs`) and a
//! bulk operation's consumer (`bulk.rs`). It sees the catalogue and the
//! configured failures only, so neither caller's module is needed here.

use serde_json::{Map, Value, json};

use crate::seed::Catalog;
use crate::time;
use crate::types::SaveFailure;

/// Why a save failed: Magento's phrase (`%1`.. for `parameters`) and whether
/// the failure is temporary.
#[derive(Clone, Debug)]
pub(crate) struct Refused {
    pub message: String,
    pub parameters: Vec<String>,
    pub retriable: bool,
}

impl Refused {
    /// The phrase with its values filled in, as `LocalizedException::getMessage`
    /// renders it: what a bulk operation's `result_message` holds.
    pub fn rendered(&self) -> String {
        let mut message = self.message.clone();
        for (n, value) in self.parameters.iter().enumerate().rev() {
            message = message.replace(&format!("%{}", n + 1), value);
        }
        message
    }
}

/// `ProductRepository::save` of `fields` under `sku`, or the configured
/// failure for that SKU (`Faults::save_failures`), nothing saved. Returns the
/// product as stored.
pub(crate) fn save(
    catalog: &mut Catalog,
    failures: &[SaveFailure],
    sku: &str,
    fields: &Map<String, Value>,
) -> Result<Value, Refused> {
    if let Some(failed) = failures.iter().find(|f| f.sku == sku) {
        return Err(Refused {
            message: failed.message.clone(),
            parameters: Vec::new(),
            retriable: failed.retriable,
        });
    }
    // What the input processor made of the body (`"12.5"` is 12.5).
    let fields = crate::contract::input::converted_product(fields);
    let now = time::now();
    let before = catalog.product(sku).cloned();
    if before.is_none() {
        if let Some(label) = missing_required(&fields) {
            return Err(Refused {
                message: EMPTY_ATTRIBUTE.to_owned(),
                parameters: vec![label.to_owned()],
                retriable: false,
            });
        }
        let id = catalog.next_product_id();
        catalog.insert_product(json!({
            "id": id,
            "sku": sku,
            "attribute_set_id": 4,
            "status": 1,
            "visibility": 4,
            "type_id": "simple",
            "created_at": now,
            "extension_attributes": { "website_ids": [1] },
            "custom_attributes": [],
        }));
    }
    let Some(Value::Object(stored)) = catalog.product_mut(sku) else {
        unreachable!("product {sku} was just ensured");
    };
    for (key, value) in &fields {
        match key.as_str() {
            "id" | "sku" | "created_at" => {}
            "custom_attributes" => merge_custom_attributes(stored, value),
            _ => {
                stored.insert(key.clone(), value.clone());
            }
        }
    }
    stored.insert("updated_at".into(), now.into());
    let saved = Value::Object(stored.clone());
    catalog.saved.push((before, saved.clone()));
    Ok(saved)
}

/// `Magento\Eav\Model\Entity\Attribute\Backend\AbstractBackend::validate`'s
/// phrase for a required attribute left empty; `ProductRepository::save` runs
/// `ResourceModel\Product::validate` before it saves, so the call fails with
/// 400 and this message, `parameters` the attribute's label.
pub(crate) const EMPTY_ATTRIBUTE: &str =
    "The \"%1\" attribute value is empty. Set the attribute and try again.";

/// The label of the first required attribute a new product lacks. A simple
/// product of the default attribute set requires `name` ("Product Name") and
/// `price` ("Price"): both `is_required` in Magento's catalog setup
/// (`Magento\Catalog\Setup\CategorySetup::getDefaultEntities`); `sku` is the
/// path's. The attribute set and type the simulator defaults (4, simple), as
/// `ProductRepository` does for a product that names none. An update needs
/// neither: the stored product already has them.
fn missing_required(fields: &Map<String, Value>) -> Option<&'static str> {
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    };
    [("name", "Product Name"), ("price", "Price")]
        .into_iter()
        .find(|(code, _)| empty(fields.get(*code)))
        .map(|(_, label)| label)
}

/// Magento saves the attributes a PUT names and keeps the others:
/// `ProductRepository::save` flattens the body's `custom_attributes` to
/// `attribute_code => value` (`ExtensibleDataObjectConverter::toNestedArray`)
/// and sets each on the product it loaded (`initializeProductData`), so an
/// attribute left out keeps its stored value, and a named one replaces it.
fn merge_custom_attributes(stored: &mut serde_json::Map<String, Value>, given: &Value) {
    let Some(given) = given.as_array() else {
        stored.insert("custom_attributes".into(), given.clone());
        return;
    };
    let list = stored
        .entry("custom_attributes")
        .or_insert_with(|| Value::Array(vec![]));
    if !list.is_array() {
        *list = Value::Array(vec![]);
    }
    let Value::Array(list) = list else {
        unreachable!("just made an array");
    };
    for attribute in given {
        let code = &attribute["attribute_code"];
        match list.iter_mut().find(|a| a["attribute_code"] == *code) {
            Some(old) => *old = attribute.clone(),
            None => list.push(attribute.clone()),
        }
    }
}
