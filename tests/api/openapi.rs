//! The published contract: `openapi.yaml` is what the code generates, and what it says about
//! roles is what the server enforces.

use linkwell_domain::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::TestApp;

#[test]
fn openapi_yaml_matches_the_code() {
    let generated = linkwell_api::openapi::yaml().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let published = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        published == generated,
        "openapi.yaml is out of date: run `make openapi` and commit the result"
    );
}

#[tokio::test]
async fn the_served_document_is_the_published_one() {
    let app = TestApp::spawn().await;
    let served = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(served.status, StatusCode::OK);
    let expected = serde_json::to_value(linkwell_api::openapi::document()).unwrap();
    assert_eq!(served.body, expected);
    assert_eq!(served.body["openapi"], "3.1.0");
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    out
}

#[test]
fn every_secured_operation_names_its_roles_and_declares_its_errors() {
    let doc = serde_json::to_value(linkwell_api::openapi::document()).unwrap();
    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        let roles = operation["x-roles"].as_array();
        if roles.is_some_and(|r| r.is_empty()) {
            // Open to anyone: no token (or an optional one; at the token endpoint, a system's
            // own credentials, in HTTP Basic or the form), rate limited.
            let security = operation.get("security");
            assert!(
                security.is_none()
                    || security == Some(&json!([{}, {"bearer": []}]))
                    || security == Some(&json!([{"client_basic": []}, {}])),
                "{method} {path}"
            );
            assert!(responses.contains_key("429"), "{method} {path}");
            let description = operation["description"].as_str().unwrap();
            assert!(description.contains("**Roles:** anyone"), "{method} {path}");
        } else if path.starts_with("/v1/") {
            assert!(roles.is_some(), "{method} {path} names its roles");
            assert_eq!(
                operation["security"],
                json!([{"bearer": []}]),
                "{method} {path}"
            );
            for status in ["401", "403", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} declares {status}"
                );
            }
            let description = operation["description"].as_str().unwrap();
            assert!(description.contains("**Roles:**"), "{method} {path}");
        }
        // Every operation: a token, if sent, must be valid; every one is rate limited.
        for status in ["401", "429", "500"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} declares {status}"
            );
        }
        assert!(roles.is_some(), "{method} {path} is in the access table");
        if roles.is_some() {
            for (status, response) in responses {
                if status.starts_with('2') || status.starts_with('4') {
                    assert!(
                        response["headers"].get("RateLimit").is_some(),
                        "{method} {path} {status} documents RateLimit"
                    );
                }
            }
        }
        if path.contains("{id}") {
            assert!(
                responses.contains_key("404") && responses.contains_key("400"),
                "{method} {path}"
            );
        }
        if let Some(body) = operation.get("requestBody") {
            // A form is the OAuth token endpoint's: its refusals are RFC 6749's 400 and 401.
            let form = body["content"]
                .get("application/x-www-form-urlencoded")
                .is_some();
            let statuses: &[&str] = if form {
                &["400", "401", "413", "415"]
            } else {
                &["400", "413", "415", "422"]
            };
            for &status in statuses {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} declares {status}"
                );
            }
        }
    }
}

/// The role × operation matrix, generated from the spec: a role outside `x-roles` gets 403;
/// a role inside never does.
#[tokio::test]
async fn the_spec_roles_are_the_enforced_roles() {
    let app = TestApp::spawn().await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push(app.member(*role).await);
    }
    let doc = serde_json::to_value(linkwell_api::openapi::document()).unwrap();
    let mut cells = 0;
    for (method, path, operation) in operations(&doc) {
        let Some(roles) = operation["x-roles"].as_array() else {
            continue;
        };
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str().unwrap()).collect();
        if allowed.is_empty() {
            cells += Role::ALL.len();
            continue; // Open to anyone: see the self-referral tests.
        }
        // Every path parameter is an id.
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    Uuid::new_v4().to_string()
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (role, token) in Role::ALL.iter().zip(&tokens) {
            let body = (method == "POST").then(|| json!({}));
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let reply = app
                .call(method.clone(), &concrete, Some(token), body.as_ref())
                .await;
            if allowed.contains(&role.as_str()) {
                assert!(
                    ![401, 403].contains(&reply.status.as_u16()),
                    "{role} may {method} {path}: {}",
                    reply.text
                );
            } else {
                assert_eq!(
                    reply.status.as_u16(),
                    403,
                    "{role} may not {method} {path}: {}",
                    reply.text
                );
            }
            cells += 1;
        }
    }
    assert_eq!(cells, linkwell_api::access::ALL.len() * Role::ALL.len());
}

#[test]
fn generated_rules_fill_every_placeholder() {
    let doc = serde_json::to_value(linkwell_api::openapi::document()).unwrap();
    let transition = &doc["paths"]["/v1/referrals/{id}/transitions"]["post"]["description"];
    let text = transition.as_str().unwrap_or_default();
    assert!(text.contains(&linkwell_domain::lifecycle::moves_in_words()));
    assert!(text.contains(&linkwell_domain::lifecycle::reasons_in_words()));
    let whole = doc.to_string();
    assert!(
        !whole.contains("{lifecycle."),
        "a placeholder was left unfilled"
    );
}
