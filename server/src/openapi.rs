//! The OpenAPI 3.1 description of the REST API, served at `/api/v1/openapi.json`.
//!
//! Schemas are derived from the wire types of the protocol crate; the operations are the
//! entries of the route table (`crate::routes::table`), which names each route's request and
//! response types.

use chatalot_protocol::ws::Message;
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

/// A body type: its schema name and how to collect its schema and those it refers to.
#[derive(Clone, Copy)]
pub struct Body {
    name: fn() -> String,
    collect: fn(&mut Vec<(String, RefOr<Schema>)>),
    list: bool,
}

fn collect<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

pub(crate) fn one<T: ToSchema>() -> Option<Body> {
    Some(Body {
        name: || T::name().into_owned(),
        collect: collect::<T>,
        list: false,
    })
}

pub(crate) fn list<T: ToSchema>() -> Option<Body> {
    Some(Body {
        name: || T::name().into_owned(),
        collect: collect::<T>,
        list: true,
    })
}

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

fn json_content(b: &Body) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(body_schema(b))).build()
}

/// Builds the document.
pub fn build() -> OpenApi {
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    collect::<ErrorBody>(&mut schemas);
    collect::<Message>(&mut schemas);
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
        let responses = ResponsesBuilder::new()
            .response(o.status.to_string(), ok.build())
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
                        .schema(Some(chatalot_protocol::openapi::uuid_schema())),
                );
            }
        }
        if let Some(b) = &o.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_content(b))
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
    DOC.get_or_init(|| build().to_json().unwrap_or_else(|_| "{}".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;
    use std::collections::BTreeSet;

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
    }
}
