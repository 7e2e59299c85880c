//! Holds the Management API to its OpenAPI document: every answer a test
//! receives from `/api/v2` is checked against the operation the document
//! gives for its method and path (the status is documented, the content type
//! is the documented one, the body is valid against the documented schema).
//! A test that gets an undocumented answer fails, naming the difference.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The document the server publishes, and a validator for each response
/// schema once it has been needed.
struct Document {
    document: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static DOCUMENT: LazyLock<Document> = LazyLock::new(|| Document {
    document: serde_json::to_value(switchyard::http::openapi()).expect("the OpenAPI document"),
    validators: Mutex::new(HashMap::new()),
});

/// Checks one Management API answer against the document; panics with what
/// differs. `path` may carry a query string. Paths the document has no
/// operation for (unknown routes and methods, the document itself) are
/// not checked.
pub fn check_response(
    method: &Method,
    path: &str,
    status: StatusCode,
    content_type: Option<&str>,
    body: &str,
) {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let Some((template, operation)) = DOCUMENT.operation(method, path) else {
        return;
    };
    let what = format!("{method} {path} (operation {method} {template}) answered {status}");
    let responses = &operation["responses"];
    let Some(response) = responses.get(status.as_str()) else {
        let documented: Vec<&String> = responses
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        panic!(
            "OpenAPI: {what}, a status the document does not list (it lists {documented:?}); body: {body}"
        );
    };
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        assert!(
            body.is_empty(),
            "OpenAPI: {what} with a body, but the document describes none: {body}"
        );
        return;
    };
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let Some(media) = content.get(&media_type) else {
        let documented: Vec<&String> = content.keys().collect();
        panic!(
            "OpenAPI: {what} as {content_type:?}; the document says {documented:?}; body: {body}"
        );
    };
    let Some(schema) = media.get("schema") else {
        return;
    };
    let instance: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("OpenAPI: {what} with a body that is not JSON ({e}): {body}"));
    let key = format!("{template} {method} {status}");
    let validator = DOCUMENT.validator(&key, schema);
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "OpenAPI: {what} with a body its schema refuses:\n{}\nbody: {body}\nschema: {schema}",
        errors.join("\n")
    );
}

impl Document {
    /// The operation for `method` on `path`: among the templates that match
    /// the path and have the method, the one with the most literal segments
    /// (`/keys/signing/rotate` before `/keys/signing/{kid}`).
    fn operation(&self, method: &Method, path: &str) -> Option<(&str, &Value)> {
        let method = method.as_str().to_ascii_lowercase();
        let segments: Vec<&str> = path.split('/').collect();
        self.document["paths"]
            .as_object()?
            .iter()
            .filter_map(|(template, item)| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, template.as_str(), item.get(&method)?))
            })
            .max_by_key(|(literal, _, _)| *literal)
            .map(|(_, template, operation)| (template, operation))
    }

    /// A validator for a response schema, whose `$ref`s point into the
    /// document's `components`.
    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut validators = self.validators.lock().unwrap_or_else(|e| e.into_inner());
        validators
            .entry(key.to_owned())
            .or_insert_with(|| {
                let standalone = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.document["components"],
                    "allOf": [schema],
                });
                let validator = jsonschema::draft202012::new(&standalone).unwrap_or_else(|e| {
                    panic!("OpenAPI: the schema for {key} does not compile: {e}")
                });
                Arc::new(validator)
            })
            .clone()
    }
}
