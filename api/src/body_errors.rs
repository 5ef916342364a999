//! Every error in a request body at once.
//!
//! serde stops at the first member of the wrong shape, and `validator`'s rules only run on a
//! body that deserialised. When the typed parse fails, [`every_error`] walks the JSON value
//! against the request type's published schema (the same one `openapi.yaml` shows), reporting
//! each unknown member, missing member and member of the wrong JSON type with the codes and
//! messages serde's errors get, and repairing each with a placeholder of the right type. serde
//! then parses the repaired value; whatever it still refuses (a value the schema does not
//! constrain by type, e.g. a malformed UUID) is reported and repaired in turn. Once the value
//! deserialises, `validator`'s rules run on it, so range and format errors come with the codes
//! they always have; an error a placeholder could have caused (at, under or above a repaired
//! member) is dropped.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use crate::error::FieldError;
use crate::extract::{escape, field_errors, shape_error};

/// Most serde re-parses after the schema walk: each finds one error the schema cannot see.
const MAX_SERDE_ROUNDS: usize = 16;
/// Most errors listed: a 64 KiB body of unknown members must not answer with a megabyte.
pub const MAX_ERRORS: usize = 100;
/// Deepest `$ref` chain or placeholder nesting followed.
const MAX_DEPTH: usize = 32;
/// The schema that allows anything: what an unresolvable `$ref` counts as.
static ANYTHING: Value = Value::Bool(true);

/// Whether a body serde read has a member of a JSON type its schema refuses: serde reads an
/// array as a struct (member by member, in declaration order), the contract says an object.
pub fn misshapen<T: ToSchema + 'static>(value: &Value) -> bool {
    let schemas = Schemas::cached::<T>();
    let mut walk = Walk {
        schemas: &schemas,
        errors: Vec::new(),
        repaired: Vec::new(),
    };
    walk.check(&mut value.clone(), &schemas.root, String::new());
    !walk.errors.is_empty()
}

/// Each id in a body that serde read but the contract refuses: `format: uuid` members are
/// hyphenated (the pattern the contract gives), while `Uuid`'s parser also takes the simple,
/// braced and URN forms.
pub fn other_id_forms<T: ToSchema + 'static>(value: &Value) -> Vec<FieldError> {
    let schemas = Schemas::cached::<T>();
    let mut found = Vec::new();
    let mut stack = vec![(String::new(), value)];
    while let Some((pointer, value)) = stack.pop() {
        match value {
            Value::Object(members) => stack.extend(
                members
                    .iter()
                    .map(|(key, member)| (format!("{pointer}/{}", escape(key)), member)),
            ),
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (format!("{pointer}/{i}"), item)),
            ),
            Value::String(text)
                if uuid::Uuid::parse_str(text).is_ok()
                    && !crate::params::canonical_uuid(text)
                    && schemas
                        .at_pointer(&pointer)
                        .and_then(|s| s.get("format"))
                        .is_some_and(|f| f == "uuid") =>
            {
                found.push(FieldError::at(
                    pointer,
                    "invalid_id",
                    "must be a UUID, hyphenated (8-4-4-4-12 hexadecimal digits)",
                ));
            }
            _ => {}
        }
        if found.len() >= MAX_ERRORS {
            break;
        }
    }
    found.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    found
}

/// Every error in a body whose typed parse failed with `first` (already a field error), or
/// that [`misshapen`] refused.
pub fn every_error<T>(value: Value, first: Option<FieldError>) -> Vec<FieldError>
where
    T: DeserializeOwned + ToSchema + Validate + 'static,
{
    let schemas = Schemas::cached::<T>();
    let mut walk = Walk {
        schemas: &schemas,
        errors: Vec::new(),
        repaired: Vec::new(),
    };
    let mut value = value;
    walk.check(&mut value, &schemas.root, String::new());
    // serde's own first error, unless the schema found the member it is in broken (serde
    // reads an array as a struct, so `[1]` for an object fails first at `/0`).
    let superseded = |first: &FieldError| {
        let first = first.pointer.as_deref().unwrap_or_default();
        walk.errors.iter().any(|e| {
            let at = e.pointer.as_deref().unwrap_or_default();
            at != first && related(at, first) && first.starts_with(at)
        })
    };
    let mut reported: Vec<FieldError> = first.into_iter().filter(|f| !superseded(f)).collect();
    reported.append(&mut walk.errors);
    let mut repaired = walk.repaired;

    let mut parsed = None;
    for _ in 0..MAX_SERDE_ROUNDS {
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(typed) => {
                parsed = Some(typed);
                break;
            }
            Err(error) => {
                let found = shape_error(error.path(), &error.inner().to_string());
                let pointer = found.pointer.clone().unwrap_or_default();
                // A member already repaired that serde still refuses: the placeholder does not
                // fit, so stop rather than loop.
                if repaired.contains(&pointer) {
                    reported.push(found);
                    break;
                }
                let fixed = if found.code == "unknown_field" {
                    remove(&mut value, &pointer)
                } else {
                    schemas
                        .at_pointer(&pointer)
                        .map(|schema| schemas.placeholder(schema, 0))
                        .is_some_and(|placeholder| set(&mut value, &pointer, placeholder))
                };
                reported.push(found);
                if !fixed {
                    break;
                }
                repaired.push(pointer);
            }
        }
    }
    if let Some(Err(errors)) = parsed.as_ref().map(Validate::validate) {
        let structural: Vec<String> = reported
            .iter()
            .filter_map(|e| e.pointer.clone())
            .chain(repaired.iter().cloned())
            .collect();
        reported.extend(field_errors(&errors).into_iter().filter(|e| {
            let pointer = e.pointer.as_deref().unwrap_or_default();
            !structural.iter().any(|s| related(s, pointer))
        }));
    }
    // One error per member, the first reported (the sort is stable), in pointer order.
    reported.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    reported.dedup_by(|later, earlier| later.pointer == earlier.pointer);
    reported.truncate(MAX_ERRORS);
    reported
}

/// Whether one pointer is the other, or lies under it.
fn related(a: &str, b: &str) -> bool {
    let under = |outer: &str, inner: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    under(a, b) || under(b, a)
}

/// A request type's schema and the named schemas it refers to, as JSON.
#[derive(Debug)]
pub struct Schemas {
    pub root: Value,
    local: HashMap<String, Value>,
}

/// The named schemas of the whole API document, built once.
fn document() -> &'static HashMap<String, Value> {
    static DOCUMENT: OnceLock<HashMap<String, Value>> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        crate::openapi::document()
            .components
            .map(|c| {
                c.schemas
                    .into_iter()
                    .filter_map(|(name, schema)| Some((name, serde_json::to_value(schema).ok()?)))
                    .collect()
            })
            .unwrap_or_default()
    })
}

impl Schemas {
    /// `T`'s schemas, made once per type (they come from code, so they never change).
    pub fn cached<T: ToSchema + 'static>() -> Arc<Self> {
        static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<Schemas>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(found) = cache
            .lock()
            .ok()
            .and_then(|c| c.get(&TypeId::of::<T>()).cloned())
        {
            return found;
        }
        // Made outside the lock; a race makes it twice, harmlessly.
        let made = Arc::new(Self::of::<T>());
        if let Ok(mut c) = cache.lock() {
            c.insert(TypeId::of::<T>(), Arc::clone(&made));
        }
        made
    }

    pub fn of<T: ToSchema>() -> Self {
        let mut named = Vec::new();
        T::schemas(&mut named);
        Schemas {
            root: serde_json::to_value(T::schema()).unwrap_or(Value::Bool(true)),
            local: named
                .into_iter()
                .filter_map(|(name, schema)| Some((name, serde_json::to_value(schema).ok()?)))
                .collect(),
        }
    }

    /// Follows `$ref`s to the schema itself (siblings of a `$ref` are annotations only).
    fn resolve<'s>(&'s self, mut schema: &'s Value) -> &'s Value {
        for _ in 0..MAX_DEPTH {
            let Some(name) = schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            else {
                return schema;
            };
            match document().get(name).or_else(|| self.local.get(name)) {
                Some(target) => schema = target,
                None => return &ANYTHING,
            }
        }
        &ANYTHING
    }

    /// The alternatives of a `oneOf`/`anyOf`, resolved, and whether one of them is `null`.
    fn alternatives<'s>(&'s self, schema: &'s Value) -> Option<(Vec<&'s Value>, bool)> {
        let list = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))?
            .as_array()?;
        let mut nullable = false;
        let mut others = Vec::new();
        for alternative in list {
            let alternative = self.resolve(alternative);
            if types(alternative).is_some_and(|t| t == ["null"]) {
                nullable = true;
            } else {
                others.push(alternative);
            }
        }
        Some((others, nullable))
    }

    /// The schema of the member at `pointer`, through objects, arrays and nullable
    /// alternatives.
    pub fn at_pointer(&self, pointer: &str) -> Option<&Value> {
        let mut schema = self.resolve(&self.root);
        if pointer.is_empty() {
            return Some(schema);
        }
        for segment in pointer.strip_prefix('/')?.split('/') {
            let key = segment.replace("~1", "/").replace("~0", "~");
            if let Some((others, _)) = self.alternatives(schema) {
                match others.as_slice() {
                    [only] => schema = only,
                    _ => return None,
                }
            }
            schema = if let Some(property) = schema.get("properties").and_then(|p| p.get(&key)) {
                self.resolve(property)
            } else if let Some(items) = schema.get("items") {
                key.parse::<usize>().ok()?;
                self.resolve(items)
            } else {
                return None;
            };
        }
        Some(schema)
    }

    /// A value of the schema's type that serde accepts wherever the schema describes it:
    /// the first enum value, the lowest allowed number, a well-formed UUID, date or time, an
    /// object with its required members. It need not pass the validation rules: errors at a
    /// placeholder are dropped.
    pub fn placeholder(&self, schema: &Value, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some((others, _)) = self.alternatives(schema) {
            return match others.first() {
                Some(first) => self.placeholder(first, depth + 1),
                None => Value::Null,
            };
        }
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        let kind = types(schema)
            .and_then(|t| t.into_iter().find(|t| *t != "null"))
            .unwrap_or(if schema.get("properties").is_some() {
                "object"
            } else {
                "null"
            });
        match kind {
            "string" => Value::String(
                match schema.get("format").and_then(Value::as_str) {
                    Some("uuid") => "00000000-0000-0000-0000-000000000000",
                    Some("date") => "2000-01-01",
                    Some("date-time") => "2000-01-01T00:00:00Z",
                    _ => "x",
                }
                .to_owned(),
            ),
            "integer" | "number" => {
                let bound = |key: &str| schema.get(key).and_then(Value::as_i64);
                Value::from(
                    bound("minimum")
                        .or_else(|| bound("maximum").map(|max| max.min(0)))
                        .unwrap_or(0),
                )
            }
            "boolean" => Value::Bool(false),
            "array" => {
                let count = schema
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(16);
                let items = schema.get("items").cloned().unwrap_or(Value::Bool(true));
                Value::Array(
                    (0..count)
                        .map(|_| self.placeholder(&items, depth + 1))
                        .collect(),
                )
            }
            "object" => {
                let mut object = Map::new();
                for name in required(schema) {
                    let member = schema
                        .get("properties")
                        .and_then(|p| p.get(name))
                        .cloned()
                        .unwrap_or(Value::Bool(true));
                    object.insert(name.to_owned(), self.placeholder(&member, depth + 1));
                }
                Value::Object(object)
            }
            _ => Value::Null,
        }
    }
}

/// The JSON types a schema allows, when it says.
fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(one) => Some(vec![one.as_str()]),
        Value::Array(many) => Some(many.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn required(schema: &Value) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Whether `value` is of JSON Schema type `kind`, as serde reads it: an integer is a JSON
/// number without a fraction or exponent (serde refuses `1.0` for an integer).
fn is_type(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

/// A type named for JSON users, in the words serde's errors get (see `extract::json_type`).
fn type_name(kind: &str) -> &'static str {
    match kind {
        "object" => "an object",
        "array" => "an array",
        "string" => "a string",
        "boolean" => "true or false",
        "integer" => "an integer",
        "number" => "a number",
        _ => "of another type",
    }
}

struct Walk<'s> {
    schemas: &'s Schemas,
    errors: Vec<FieldError>,
    repaired: Vec<String>,
}

impl Walk<'_> {
    fn check(&mut self, value: &mut Value, schema: &Value, pointer: String) {
        let schemas = self.schemas;
        let schema = schemas.resolve(schema);
        if let Some((others, nullable)) = schemas.alternatives(schema) {
            if value.is_null() && nullable {
                return;
            }
            // Several shapes (e.g. SWEMWBS or ONS4 answers) are told apart by the handler, not
            // serde, so there is nothing structural to say about them here.
            if let [only] = others.as_slice() {
                self.check(value, only, pointer);
            }
            return;
        }
        if let Some(kinds) = types(schema)
            && !kinds.iter().any(|kind| is_type(kind, value))
        {
            let expected = kinds
                .iter()
                .find(|k| **k != "null")
                .copied()
                .unwrap_or("null");
            self.errors.push(FieldError::at(
                pointer.clone(),
                "invalid_type",
                format!("must be {}", type_name(expected)),
            ));
            *value = schemas.placeholder(schema, 0);
            self.repaired.push(pointer);
            return;
        }
        match value {
            Value::Object(members) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                    let unknown: Vec<String> = members
                        .keys()
                        .filter(|k| !properties.is_some_and(|p| p.contains_key(*k)))
                        .cloned()
                        .collect();
                    for key in unknown {
                        members.remove(&key);
                        let at = format!("{pointer}/{}", escape(&key));
                        self.errors.push(FieldError::at(
                            at.clone(),
                            "unknown_field",
                            "is not a field of this request",
                        ));
                        self.repaired.push(at);
                    }
                }
                if let Some(properties) = properties {
                    for (name, member) in members.iter_mut() {
                        if let Some(property) = properties.get(name) {
                            self.check(member, property, format!("{pointer}/{}", escape(name)));
                        }
                    }
                    for name in required(schema) {
                        if !members.contains_key(name) {
                            let at = format!("{pointer}/{}", escape(name));
                            self.errors
                                .push(FieldError::at(at.clone(), "required", "is required"));
                            let property = properties.get(name).unwrap_or(&ANYTHING);
                            members.insert(name.to_owned(), schemas.placeholder(property, 0));
                            self.repaired.push(at);
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for (index, element) in items.iter_mut().enumerate() {
                        self.check(element, item, format!("{pointer}/{index}"));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Removes the member at `pointer`; whether there was one.
fn remove(value: &mut Value, pointer: &str) -> bool {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(members)) => members.remove(&key).is_some(),
        _ => false,
    }
}

/// Sets (or adds) the member at `pointer`; whether it could.
fn set(value: &mut Value, pointer: &str, new: Value) -> bool {
    if pointer.is_empty() {
        *value = new;
        return true;
    }
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(members)) => {
            members.insert(key, new);
            true
        }
        Some(Value::Array(items)) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i))
        {
            Some(slot) => {
                *slot = new;
                true
            }
            None => false,
        },
        _ => false,
    }
}
