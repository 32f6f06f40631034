//! The OpenAPI 3.1 description of the REST API, served at `/api/v1/openapi.json`.
//!
//! Schemas are derived from the wire types of the protocol crate; the operations are the
//! entries of the route table (`crate::routes::table`), which names each route's request and
//! response types.

use crate::routes::describe::{collect, Body};
use chatalot_protocol::ws::{ClientFrame, Message, ServerFrame};
use chatalot_protocol::ErrorBody;
use std::sync::OnceLock;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, Ref, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, RefOr, Required,
    ResponseBuilder, ResponsesBuilder,
};
use utoipa::ToSchema;

fn method_of(m: &str) -> HttpMethod {
    match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        _ => HttpMethod::Delete,
    }
}

fn body_schema(b: &Body) -> RefOr<Schema> {
    let r = RefOr::Ref(Ref::from_schema_name((b.name)()));
    if b.list {
        ArrayBuilder::new().items(r).into()
    } else {
        r
    }
}

/// Raw bytes (a file).
fn octets_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Binary,
                ))),
        ))
        .build()
}

fn json_content(b: &Body) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(body_schema(b))).build()
}

/// Builds the document.
pub fn build() -> OpenApi {
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    collect::<ErrorBody>(&mut schemas);
    collect::<Message>(&mut schemas);
    // the frames of the WebSocket gateway (GET /api/v1/ws), for clients generating their types
    collect::<ClientFrame>(&mut schemas);
    collect::<ServerFrame>(&mut schemas);
    let error = Body {
        name: || ErrorBody::name().into_owned(),
        collect: collect::<ErrorBody>,
        list: false,
    };
    let mut paths = PathsBuilder::new();
    for o in crate::routes::table() {
        for b in [&o.request, &o.response].into_iter().flatten() {
            (b.collect)(&mut schemas);
        }
        let mut ok = ResponseBuilder::new().description(o.summary);
        if let Some(b) = &o.response {
            ok = ok.content("application/json", json_content(b));
        }
        if o.octets_out {
            ok = ok.content("application/octet-stream", octets_content());
        }
        if o.image_out {
            ok = ok
                .content("image/webp", octets_content())
                .content("image/jpeg", octets_content());
        }
        let mut responses = ResponsesBuilder::new().response(o.status.to_string(), ok.build());
        for (status, body) in &o.also {
            let mut r = ResponseBuilder::new().description(o.summary);
            if let Some(b) = body {
                (b.collect)(&mut schemas);
                r = r.content("application/json", json_content(b));
            }
            responses = responses.response(status.to_string(), r.build());
        }
        let responses = responses
            .response(
                "default",
                ResponseBuilder::new()
                    .description("An error: `code` is stable, `message` says what to fix")
                    .content("application/json", json_content(&error))
                    .build(),
            )
            .build();
        let mut operation = OperationBuilder::new()
            .summary(Some(o.summary))
            .operation_id(Some(format!(
                "{}_{}",
                o.method.to_lowercase(),
                o.path
                    .trim_start_matches("/api/v1/")
                    .replace(['/', '{', '}'], "_")
            )))
            .responses(responses);
        for seg in o.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(if name == "ref" {
                            content_ref_schema()
                        } else {
                            chatalot_protocol::openapi::uuid_schema()
                        })),
                );
            }
        }
        for q in &o.query {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(q.name)
                    .parameter_in(ParameterIn::Query)
                    .required(if q.required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .schema(Some((q.schema)())),
            );
        }
        if let Some(b) = &o.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_content(b))
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        if o.octets_in {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/octet-stream", octets_content())
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        if o.auth {
            operation =
                operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        paths = paths.path(
            o.path,
            PathItem::new(method_of(o.method), operation.build()),
        );
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Chatalot")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "REST API of a Chatalot server. Errors are `{code, message}`; see docs/api.md.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(build()).unwrap_or_default();
        conditional_rules(&mut doc);
        doc.to_string()
    })
}

/// Rules between fields, which the schema derive cannot write (JSON Schema `if`/`then`/`else`).
fn conditional_rules(doc: &mut serde_json::Value) {
    use serde_json::json;
    let group = &mut doc["components"]["schemas"]["CreateGroupRequest"];
    if let Some(group) = group.as_object_mut() {
        // a personal group is assigned to a member; other groups to nobody
        group.insert(
            "if".into(),
            json!({"properties": {"kind": {"const": "personal"}}, "required": ["kind"]}),
        );
        group.insert(
            "then".into(),
            json!({"required": ["assigned_to"],
                   "properties": {"assigned_to": {"type": "string", "format": "uuid"}}}),
        );
        group.insert(
            "else".into(),
            json!({"properties": {"assigned_to": {"type": "null"}}}),
        );
    }
}

/// A content reference: a SHA-256 in lowercase hex.
fn content_ref_schema() -> RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some("^[0-9a-f]{64}$"))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;
    use std::collections::BTreeSet;

    #[test]
    fn key_encodings_in_the_document_are_the_crypto_crates() {
        use chatalot_crypto::encoding::tag;
        use chatalot_crypto::identity::DEVICE_CERTIFICATE_LEN;
        use chatalot_crypto::limits::{KEY_LEN, SIGNATURE_LEN};
        use chatalot_protocol::keys::limits as wire;
        assert_eq!(
            wire::CERTIFICATE_ENCODING,
            (tag::DEVICE_CERTIFICATE, DEVICE_CERTIFICATE_LEN)
        );
        assert_eq!(
            wire::SIGNED_PREKEY_ENCODING,
            (tag::SIGNED_PREKEY, 1 + 4 + KEY_LEN + SIGNATURE_LEN)
        );
        assert_eq!(
            wire::ONE_TIME_PREKEY_ENCODING,
            (tag::ONE_TIME_PREKEY, 1 + 4 + KEY_LEN)
        );
        let doc: serde_json::Value = serde_json::from_str(json()).expect("json");
        let cert = &doc["components"]["schemas"]["PublishKeysRequest"]["properties"]["certificate"];
        assert_eq!(cert["minLength"], 260, "{cert}");
        assert_eq!(cert["pattern"], "^A[Q-Za-f][A-Za-z0-9+/]{256}==$");
    }

    /// `docs/openapi.json` is the document as served; the web app's wire types are generated
    /// from it (`frontend/src/lib/api/schema.gen.ts`), so a change of a wire type must reach
    /// both. `CHATALOT_WRITE_OPENAPI=1` rewrites the file (`make openapi`).
    #[test]
    fn the_committed_document_is_the_served_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let doc: serde_json::Value = serde_json::from_str(json()).expect("json");
        let now = serde_json::to_string_pretty(&doc).expect("json") + "\n";
        if std::env::var_os("CHATALOT_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &now).expect("write docs/openapi.json");
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == now,
            "docs/openapi.json differs from the served document: run `make openapi` and commit it"
        );
    }

    #[test]
    fn every_route_is_listed_once() {
        let unique: BTreeSet<(&str, &str)> = ROUTES.iter().copied().collect();
        assert_eq!(ROUTES.len(), unique.len(), "a route is listed twice");
    }

    #[test]
    fn the_document_is_complete_and_every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(json()).expect("json");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        for (method, path) in ROUTES.iter() {
            let op = &doc["paths"][path][method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} is described");
        }
        let text = json();
        let schemas = &doc["components"]["schemas"];
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').expect("end")];
            assert!(schemas[name].is_object(), "schema {name} is defined");
        }
        assert!(schemas["Channel"]["properties"]["e2e"].is_object());
        assert!(schemas["CreateGroupRequest"]["then"]["required"].is_array());
    }
}
