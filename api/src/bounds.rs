//! Bounds every schema in the document whose bound follows from its format alone: ids, dates,
//! times and integer widths. The derive writes `Uuid` or `DateTime` as a bare string and `i64`
//! as a bare integer; the server's parsers and types fix a bound, and clients (and the
//! contract fuzzer) read it here. Applied to the whole document, so new endpoints inherit it.
//! A bound a format cannot give (free text, counts, lists) is stated where the field is
//! declared: the lint (`tests/contract/lint.sh`) fails on any left open.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Object, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Content, OpenApi, RefOr, Response};

/// A UUID as the server writes it and reads it: hyphenated, 36 characters. The other forms
/// `Uuid::from_str` reads (simple, braced, URN) are refused (`params`).
pub const UUID_CHARS: usize = 36;
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// `YYYY-MM-DD`.
pub const DATE_CHARS: usize = 10;
/// An RFC 3339 date and time to the nanosecond with an offset,
/// `2026-03-18T09:30:00.123456789+01:00`; the server writes microseconds and `Z`.
pub const TIMESTAMP_CHARS: usize = 35;

/// Bounds every schema in `doc`: components, parameters, bodies, responses and headers.
pub fn apply(doc: &mut OpenApi) {
    if let Some(components) = doc.components.as_mut() {
        components.schemas.values_mut().for_each(schema);
        for header in components.headers.values_mut() {
            if let RefOr::T(header) = header {
                header.schema.iter_mut().for_each(schema);
            }
        }
        for response in components.responses.values_mut() {
            if let RefOr::T(response) = response {
                self::response(response);
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for parameter in item.parameters.iter_mut().flatten() {
            if let RefOr::T(parameter) = parameter {
                parameter.schema.iter_mut().for_each(schema);
            }
        }
        for op in crate::openapi::operations(item) {
            operation(op);
        }
    }
}

fn operation(op: &mut Operation) {
    for parameter in op.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter {
            parameter.schema.iter_mut().for_each(schema);
        }
    }
    if let Some(RefOr::T(body)) = op.request_body.as_mut() {
        body.content.values_mut().for_each(content);
    }
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            self::response(response);
        }
    }
}

fn response(response: &mut Response) {
    response.content.values_mut().for_each(content);
    for header in response.headers.values_mut() {
        if let RefOr::T(header) = header {
            header.schema.iter_mut().for_each(schema);
        }
    }
}

fn content(content: &mut RefOr<Content>) {
    if let RefOr::T(content) = content {
        content.schema.iter_mut().for_each(schema);
    }
}

fn schema(node: &mut RefOr<Schema>) {
    if let RefOr::T(node) = node {
        walk(node);
    }
}

fn walk(node: &mut Schema) {
    match node {
        Schema::Object(object) => {
            bound(object);
            object.properties.values_mut().for_each(schema);
            if let Some(AdditionalProperties::RefOr(values)) =
                object.additional_properties.as_deref_mut()
            {
                schema(values);
            }
            if let Some(names) = object.property_names.as_deref_mut() {
                walk(names);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                schema(items);
            }
            array.prefix_items.iter_mut().for_each(walk);
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(schema),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(schema),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(schema),
        _ => {}
    }
}

fn has(object: &Object, wanted: Type) -> bool {
    match &object.schema_type {
        SchemaType::Type(t) => *t == wanted,
        SchemaType::Array(types) => types.contains(&wanted),
        _ => false,
    }
}

fn bound(object: &mut Object) {
    if has(object, Type::String) {
        let format = match &object.format {
            Some(SchemaFormat::KnownFormat(format)) => Some(format),
            _ => None,
        };
        match format {
            Some(KnownFormat::Uuid) => {
                object.max_length.get_or_insert(UUID_CHARS);
                object
                    .pattern
                    .get_or_insert_with(|| UUID_PATTERN.to_owned());
            }
            Some(KnownFormat::Date) => {
                object.max_length.get_or_insert(DATE_CHARS);
            }
            Some(KnownFormat::DateTime) => {
                object.max_length.get_or_insert(TIMESTAMP_CHARS);
            }
            _ => {}
        }
    }
    if has(object, Type::Integer) && object.format.is_none() {
        let fits = |n: &Option<utoipa::Number>| match n {
            Some(utoipa::Number::Int(n)) => i32::try_from(*n).is_ok(),
            Some(utoipa::Number::UInt(n)) => i32::try_from(*n).is_ok(),
            _ => false,
        };
        let width = if fits(&object.minimum) && fits(&object.maximum) {
            KnownFormat::Int32
        } else {
            KnownFormat::Int64
        };
        object.format = Some(SchemaFormat::KnownFormat(width));
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::schema::ObjectBuilder;

    use super::*;

    #[test]
    fn formats_bring_their_bounds() {
        let mut id: Schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .into();
        walk(&mut id);
        let id = serde_json::to_value(id).unwrap_or_default();
        assert_eq!(id["maxLength"], 36);
        assert_eq!(id["pattern"], UUID_PATTERN);

        let mut small: Schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(10))
            .into();
        walk(&mut small);
        assert_eq!(
            serde_json::to_value(small).unwrap_or_default()["format"],
            "int32"
        );
        let mut open: Schema = ObjectBuilder::new().schema_type(Type::Integer).into();
        walk(&mut open);
        assert_eq!(
            serde_json::to_value(open).unwrap_or_default()["format"],
            "int64"
        );
    }
}
