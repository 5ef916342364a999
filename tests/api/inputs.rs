//! Input rules: every error in a body is reported at once, with the codes it always had.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, referral_body};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect()
}

async fn referral_count(app: &TestApp) -> usize {
    let list = app.get("/v1/referrals", &app.coordinator()).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn an_empty_referral_lists_every_missing_member() {
    let app = TestApp::spawn().await;
    let reply = app.refer(&app.coordinator(), &json!({})).await;
    let problem = reply.problem(422, "validation_failed");
    assert_eq!(problem["detail"], "4 fields are invalid");
    assert_eq!(
        reply.field_errors(),
        pairs(&[
            ("/consent_to_share", "required"),
            ("/person", "required"),
            ("/reasons", "required"),
            ("/source", "required"),
        ])
    );
    for error in problem["errors"].as_array().unwrap() {
        let message = if error["pointer"] == "/source" {
            "say how the person came to the service when staff enter a referral"
        } else {
            "is required"
        };
        assert_eq!(error["message"], message);
    }
    // From a practice, the source follows from the practice: the rest are still all listed.
    let practice = app.member(linkwell_domain::Role::Referrer).await;
    let reply = app.refer(&practice, &json!({})).await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        pairs(&[
            ("/consent_to_share", "required"),
            ("/person", "required"),
            ("/reasons", "required"),
        ])
    );
    assert_eq!(referral_count(&app).await, 0);
}

#[tokio::test]
async fn a_session_lists_type_and_range_errors_together() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let referral = app.accepted(org, "S-1").await;
    let path = format!("/v1/referrals/{referral}/sessions");
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);

    // A time of the wrong type (serde's error) with a bad code and too many minutes (rules).
    let reply = app
        .post(
            &path,
            &app.coordinator(),
            &json!({"kind": "coaching", "mode": "carrier_pigeon", "scheduled_at": 20260318,
                    "status": "attended", "duration_minutes": 481}),
        )
        .await;
    let problem = reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        pairs(&[
            ("/duration_minutes", "out_of_range"),
            ("/mode", "unknown_code"),
            ("/scheduled_at", "invalid_type"),
        ])
    );
    assert_eq!(
        problem["errors"][0]["message"],
        "must be from 1 to 480 minutes"
    );
    assert_eq!(
        problem["errors"][1]["message"],
        "must be one of: face_to_face, phone, video, text"
    );
    assert_eq!(problem["errors"][2]["message"], "must be a string");

    // The same with a time that is a string but not a time: every rule reports.
    let reply = app
        .post(
            &path,
            &app.coordinator(),
            &json!({"kind": "coaching", "mode": "carrier_pigeon", "scheduled_at": "yesterday",
                    "status": "attended", "duration_minutes": 481}),
        )
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        pairs(&[
            ("/duration_minutes", "out_of_range"),
            ("/mode", "unknown_code"),
            ("/scheduled_at", "date_time_format"),
        ])
    );

    // A minute count of the wrong type beside a bad code: both.
    let reply = app
        .post(
            &path,
            &app.coordinator(),
            &json!({"kind": "coaching", "mode": "phone", "scheduled_at": now,
                    "status": "attended", "duration_minutes": "twenty", "notes": 5}),
        )
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        pairs(&[
            ("/duration_minutes", "invalid_type"),
            ("/notes", "invalid_type"),
        ])
    );

    let sessions = app.get(&path, &app.coordinator()).await;
    assert_eq!(sessions.body["items"], json!([]), "nothing stored");
}

#[tokio::test]
async fn unknown_missing_and_wrongly_typed_members_are_reported_together() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let mut body = referral_body("R-1");
    body["person"].as_object_mut().unwrap().remove("given_name");
    body["person"]["phone"] = json!(1284123456);
    body["person"]["nhs_number"] = json!("999 000 0019");
    body["reasons"] = json!(["loneliness", 7]);
    body["status"] = json!("accepted");
    body["referrer_org_id"] = json!(Uuid::new_v4());
    body["summary"] = json!(["a", "list"]);
    body["consent_to_share"] = json!("yes");
    let reply = app.refer(&app.referrer(org), &body).await;
    let problem = reply.problem(422, "validation_failed");
    assert_eq!(
        reply.field_errors(),
        pairs(&[
            ("/consent_to_share", "invalid_type"),
            ("/person/given_name", "required"),
            ("/person/nhs_number", "nhs_number_checksum"),
            ("/person/phone", "invalid_type"),
            ("/reasons/1", "invalid_type"),
            ("/referrer_org_id", "unknown_field"),
            ("/status", "unknown_field"),
            ("/summary", "invalid_type"),
        ])
    );
    assert_eq!(problem["detail"], "8 fields are invalid");
    let messages: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "must be true or false",
            "is required",
            "is not a valid NHS number (Modulus 11 check digit does not match)",
            "must be a string",
            "must be a string",
            "is not a field of this request",
            "is not a field of this request",
            "must be a string",
        ]
    );
    assert_eq!(referral_count(&app).await, 0);

    // The same body put right is accepted: the errors were all there was to fix.
    let reply = app.refer(&app.referrer(org), &referral_body("R-1")).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_at_the_top_is_one_error() {
    let app = TestApp::spawn().await;
    let org = app.organisation("Practice", "gp_practice").await;
    let reply = app.refer(&app.referrer(org), &json!([1, 2])).await;
    reply.problem(422, "validation_failed");
    assert_eq!(reply.field_errors(), pairs(&[("", "invalid_type")]));
    let reply = app
        .post("/v1/organisations", &app.admin(), &json!("Riverside"))
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(reply.field_errors(), pairs(&[("", "invalid_type")]));
}

/// serde reads a JSON array as a struct, member by member in declaration order; the contract
/// says an object, and so does the server.
#[tokio::test]
async fn an_array_in_place_of_an_object_is_refused_not_read_in_order() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/organisations",
            &app.admin(),
            &json!(["Riverside Surgery", "gp_practice", null]),
        )
        .await;
    reply.problem(422, "validation_failed");
    assert_eq!(reply.field_errors(), pairs(&[("", "invalid_type")]));
    let mut body = referral_body("R-1");
    body["person"] = json!(["Sam", "Jones", "1950-02-28"]);
    let org = app.organisation("Practice", "gp_practice").await;
    let reply = app.refer(&app.referrer(org), &body).await;
    reply.problem(422, "validation_failed");
    assert_eq!(reply.field_errors(), pairs(&[("/person", "invalid_type")]));
    let list = app.get("/v1/organisations", &app.admin()).await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Practice"], "nothing stored from the arrays");
    assert_eq!(referral_count(&app).await, 0);
}

/// Codes of structural errors: the shape of the body, not the rules its values break.
const STRUCTURAL: [&str; 5] = [
    "required",
    "unknown_field",
    "invalid_type",
    "invalid_value",
    "duplicate_field",
];

/// A request body schema from the served document, and how to send to its operation.
struct Operation {
    method: reqwest::Method,
    path: String,
    schema: Value,
    public: bool,
    /// Whether it takes `Idempotency-Key` (registering a system does not: its secret is shown
    /// once, so its answer is never stored for replay).
    keyed: bool,
}

struct Spec {
    schemas: serde_json::Map<String, Value>,
}

impl Spec {
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        while let Some(name) = schema["$ref"].as_str() {
            let name = name.trim_start_matches("#/components/schemas/");
            schema = &self.schemas[name];
        }
        schema
    }

    /// The alternatives of a `oneOf`, resolved, without `{type: null}`; and whether one was.
    fn alternatives<'a>(&'a self, schema: &'a Value) -> (Vec<&'a Value>, bool) {
        let mut nullable = schema["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null")));
        let mut out = Vec::new();
        match schema["oneOf"].as_array() {
            Some(list) => {
                for alternative in list {
                    let alternative = self.resolve(alternative);
                    if alternative["type"] == "null" {
                        nullable = true;
                    } else {
                        out.push(alternative);
                    }
                }
            }
            None => out.push(schema),
        }
        (out, nullable)
    }

    /// A valid value for `schema`: the named leaf types get realistic values.
    fn example(&self, schema: &Value) -> Value {
        if let Some(name) = schema["$ref"].as_str() {
            let leaf = match name.trim_start_matches("#/components/schemas/") {
                "NhsNumber" => Some(json!("999 000 0018")),
                "Phone" => Some(json!("01284 123456")),
                "Email" => Some(json!("jo@example.org")),
                "Postcode" => Some(json!("IP33 3ND")),
                "Website" => Some(json!("https://example.org/help")),
                "OdsCode" => Some(json!("A81001")),
                "Issuer" => Some(json!("https://idp.example.org/realms/nhs")),
                "DateOfBirth" => Some(json!("1960-01-01")),
                "Date" => Some(json!(
                    (Utc::now() + chrono::Duration::days(30))
                        .format("%Y-%m-%d")
                        .to_string()
                )),
                "Timestamp" => Some(json!(
                    (Utc::now() - chrono::Duration::minutes(1))
                        .to_rfc3339_opts(SecondsFormat::Micros, true)
                )),
                _ => None,
            };
            if let Some(value) = leaf {
                return value;
            }
        }
        let schema = self.resolve(schema);
        if let Some(list) = schema["oneOf"].as_array() {
            let first = list.iter().find(|a| self.resolve(a)["type"] != "null");
            return self.example(first.unwrap());
        }
        if let Some(first) = schema["enum"].get(0) {
            return first.clone();
        }
        let kind = match &schema["type"] {
            Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap(),
            other => other.clone(),
        };
        match kind.as_str().unwrap_or("object") {
            "string" => match schema["format"].as_str() {
                Some("uuid") => json!(Uuid::new_v4()),
                _ => json!("Some words"),
            },
            "integer" => json!(schema["minimum"].as_i64().unwrap_or(1)),
            "boolean" => json!(true),
            "array" => {
                let count = schema["minItems"].as_u64().unwrap_or(1);
                let items = self.resolve(&schema["items"]);
                (0..count)
                    .map(|i| match items["enum"].as_array() {
                        Some(codes) => codes[usize::try_from(i).unwrap()].clone(),
                        None => self.example(items),
                    })
                    .collect()
            }
            _ => {
                let mut object = serde_json::Map::new();
                for (name, member) in schema["properties"].as_object().unwrap() {
                    object.insert(name.clone(), self.example(member));
                }
                Value::Object(object)
            }
        }
    }

    /// A value of a JSON type `schema` does not allow, if its types are known.
    fn wrong_type(&self, schema: &Value) -> Option<Value> {
        let schema = self.resolve(schema);
        let (alternatives, nullable) = self.alternatives(schema);
        if alternatives.len() != 1 {
            return None; // several shapes: told apart by the handler, not serde
        }
        let allowed = |candidate: &Value| {
            let kinds: Vec<&str> = match &alternatives[0]["type"] {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec!["string", "integer", "boolean", "array", "object"],
            };
            (nullable && candidate.is_null())
                || kinds.iter().any(|kind| match *kind {
                    "string" => candidate.is_string(),
                    "integer" => candidate.is_i64(),
                    "boolean" => candidate.is_boolean(),
                    "array" => candidate.is_array(),
                    "object" => candidate.is_object(),
                    _ => false,
                })
        };
        [json!(true), json!(7), json!("x"), json!([]), json!({})]
            .into_iter()
            .find(|c| !allowed(c))
    }

    /// Every single breakage of `value` (under `schema`, at `pointer`): the body broken and
    /// the structural error it must bring.
    fn breakages(
        &self,
        root: &Value,
        schema: &Value,
        pointer: &str,
        out: &mut Vec<(Value, (String, String))>,
    ) {
        let schema = self.resolve(schema);
        let (alternatives, _) = self.alternatives(schema);
        let [schema] = alternatives.as_slice() else {
            return;
        };
        let Some(properties) = schema["properties"].as_object() else {
            return;
        };
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut unknown = root.clone();
        unknown
            .pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("zz_unknown".into(), json!(1));
        out.push((
            unknown,
            (format!("{pointer}/zz_unknown"), "unknown_field".into()),
        ));
        for (name, member) in properties {
            let at = format!("{pointer}/{name}");
            if required.contains(&name.as_str()) {
                let mut missing = root.clone();
                missing
                    .pointer_mut(pointer)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove(name);
                out.push((missing, (at.clone(), "required".into())));
            }
            if let Some(wrong) = self.wrong_type(member) {
                let mut broken = root.clone();
                *broken.pointer_mut(&at).unwrap() = wrong;
                out.push((broken, (at.clone(), "invalid_type".into())));
            }
            self.breakages(root, member, &at, out);
        }
    }
}

impl Spec {
    /// A value of the right JSON type that breaks a rule of `schema`, if it has one.
    fn bad_value(&self, schema: &Value, example: &Value) -> Option<Value> {
        let schema = self.resolve(schema);
        let (alternatives, _) = self.alternatives(schema);
        let [schema] = alternatives.as_slice() else {
            return None;
        };
        if let Some(codes) = schema["enum"].as_array() {
            return Some(if codes == &[json!(true)] {
                json!(false)
            } else {
                json!("zz_not_a_code")
            });
        }
        if schema["format"] == "uuid" {
            return Some(json!("not-a-uuid"));
        }
        if let Some(max) = schema["maxLength"].as_u64() {
            return Some(json!("x".repeat(usize::try_from(max).unwrap() + 1)));
        }
        if schema["pattern"].is_string() {
            return Some(json!("!!"));
        }
        if let Some(max) = schema["maximum"].as_i64() {
            return Some(json!(max + 1));
        }
        if schema["uniqueItems"] == true {
            let item = example.get(0)?.clone();
            return Some(json!([item.clone(), item]));
        }
        None
    }

    /// Every member (at any depth) with a rule to break: the body broken and the member.
    fn value_breakages(
        &self,
        root: &Value,
        schema: &Value,
        pointer: &str,
        out: &mut Vec<(Value, String)>,
    ) {
        let schema = self.resolve(schema);
        let (alternatives, _) = self.alternatives(schema);
        let [schema] = alternatives.as_slice() else {
            return;
        };
        let Some(properties) = schema["properties"].as_object() else {
            return;
        };
        for (name, member) in properties {
            let at = format!("{pointer}/{name}");
            let example = root.pointer(&at).unwrap();
            if let Some(bad) = self.bad_value(member, example) {
                let mut broken = root.clone();
                *broken.pointer_mut(&at).unwrap() = bad;
                out.push((broken, at.clone()));
            }
            self.value_breakages(root, member, &at, out);
        }
    }
}

fn structural(reply: &crate::support::Reply) -> Vec<(String, String)> {
    reply
        .field_errors()
        .into_iter()
        .filter(|(_, code)| STRUCTURAL.contains(&code.as_str()))
        .collect()
}

/// Every request body in the published contract, against the server: a body built from the
/// schema alone has no structural error (the schema lets through nothing serde refuses);
/// each member missing, of the wrong type or unknown is reported at its pointer (serde
/// refuses all the schema refuses); and all of them at once are all reported.
#[tokio::test]
async fn every_request_body_reports_each_breakage_and_all_at_once() {
    let app = TestApp::spawn_with(|c| {
        c.public_rate_per_minute = std::num::NonZeroU32::new(100_000).unwrap();
    })
    .await;
    let document = app
        .call(reqwest::Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let spec = Spec {
        schemas: document["components"]["schemas"]
            .as_object()
            .unwrap()
            .clone(),
    };
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            // The token endpoint takes a form (RFC 6749); its errors are tested on their own.
            let Some((_, media)) = content.iter().find(|(kind, _)| kind.ends_with("json")) else {
                continue;
            };
            operations.push(Operation {
                method: method.to_uppercase().parse().unwrap(),
                // Each path parameter is an id.
                path: path
                    .split('/')
                    .map(|part| {
                        if part.starts_with('{') {
                            Uuid::new_v4().to_string()
                        } else {
                            part.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/"),
                schema: media["schema"].clone(),
                public: operation["x-roles"] == json!([]),
                keyed: operation["parameters"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["name"] == "Idempotency-Key")),
            });
        }
    }
    assert_eq!(operations.len(), 36, "every operation with a body");
    let admin = app.admin();
    // A referral from a practice: its source follows from the practice (staff must send one).
    let practice = app.member(linkwell_domain::Role::Referrer).await;
    let send = async |operation: &Operation, body: &Value| {
        let token = if operation.public {
            None
        } else if operation.path == "/v1/referrals" {
            Some(practice.as_str())
        } else {
            Some(admin.as_str())
        };
        let mut request = app
            .client
            .request(operation.method.clone(), app.url(&operation.path))
            .json(body)
            .header("if-match", "\"1\"");
        if operation.keyed {
            request = request.header("idempotency-key", Uuid::new_v4().to_string());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        crate::support::Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    };
    let mut rules_broken = 0;
    for operation in &operations {
        let name = format!("{} {}", operation.method, operation.path);
        let example = spec.example(&operation.schema);
        let reply = send(operation, &example).await;
        assert_eq!(
            structural(&reply),
            vec![],
            "{name}: {example} {}",
            reply.text
        );
        // With only its required members (no rule across optional ones applies), no error.
        let root = spec.resolve(&operation.schema);
        let mut minimal = example.clone();
        if let Some(members) = minimal.as_object_mut() {
            members.retain(|name, _| {
                root["required"]
                    .as_array()
                    .is_some_and(|r| r.contains(&json!(name)))
            });
        }
        let reply = send(operation, &minimal).await;
        // An id the example made up names no record: only a body that names others beside
        // its path's parent (a group's facilitators, community work's group) gets that far.
        let named_nothing = |(pointer, code): &(String, String)| {
            (code == "unknown_user" && pointer.starts_with("/facilitators/"))
                || (code == "unknown_service" && pointer == "/group/service_id")
        };
        let errors: Vec<_> = reply
            .field_errors()
            .into_iter()
            .filter(|e| !named_nothing(e))
            .collect();
        assert_eq!(errors, vec![], "{name}: {minimal} {}", reply.text);

        let mut breakages = Vec::new();
        spec.breakages(&example, &operation.schema, "", &mut breakages);
        assert!(!breakages.is_empty(), "{name}");
        for (body, expected) in &breakages {
            let reply = send(operation, body).await;
            assert_eq!(reply.status, 422, "{name}: {body} {}", reply.text);
            assert_eq!(structural(&reply), vec![expected.clone()], "{name}: {body}");
        }

        // A rule broken is reported alone, and beside a shape error (merge patches are checked
        // against the stored resource, which these random ids do not name).
        if operation.method != reqwest::Method::PATCH {
            let mut broken = Vec::new();
            spec.value_breakages(&example, &operation.schema, "", &mut broken);
            rules_broken += broken.len();
            for (mut body, at) in broken {
                let at_member = |reply: &crate::support::Reply| {
                    reply
                        .field_errors()
                        .iter()
                        .any(|(p, _)| p == &at || p.starts_with(&format!("{at}/")))
                };
                let reply = send(operation, &body).await;
                assert_eq!(reply.status, 422, "{name}: {body} {}", reply.text);
                assert!(at_member(&reply), "{name}: {at} in {}", reply.text);
                body["zz_unknown"] = json!(1);
                let reply = send(operation, &body).await;
                assert!(
                    at_member(&reply),
                    "{name}: {at} beside another in {}",
                    reply.text
                );
                assert!(
                    reply
                        .field_errors()
                        .contains(&("/zz_unknown".into(), "unknown_field".into())),
                    "{name}: {}",
                    reply.text
                );
            }
        }

        // All at once: at the top level, each required member missing or (alternately) of the
        // wrong type, each optional one of the wrong type, and an unknown member.
        let required: Vec<&str> = root["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut body = example.clone();
        let mut expected = vec![("/zz_unknown".to_owned(), "unknown_field".to_owned())];
        body["zz_unknown"] = json!(true);
        for (index, (member, schema)) in root["properties"].as_object().unwrap().iter().enumerate()
        {
            let at = format!("/{member}");
            if required.contains(&member.as_str()) && index % 2 == 0 {
                body.as_object_mut().unwrap().remove(member);
                expected.push((at, "required".into()));
            } else if let Some(wrong) = spec.wrong_type(schema) {
                body[member] = wrong;
                expected.push((at, "invalid_type".into()));
            }
        }
        expected.sort();
        let reply = send(operation, &body).await;
        reply.problem(422, "validation_failed");
        assert_eq!(structural(&reply), expected, "{name}: {body}");
    }
    assert!(rules_broken > 60, "{rules_broken} rules broken");
}
