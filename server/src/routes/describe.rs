//! What the route table says of each route besides its handler: the schema of its request and
//! response bodies and of its query parameters, which the OpenAPI document is built from.

use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// A body type: its schema name and how to collect its schema and those it refers to.
#[derive(Clone, Copy)]
pub struct Body {
    pub(crate) name: fn() -> String,
    pub(crate) collect: fn(&mut Vec<(String, RefOr<Schema>)>),
    pub(crate) list: bool,
}

/// Adds `T`'s schema and those it refers to.
pub(crate) fn collect<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

/// One `T` as a body.
pub(crate) fn one<T: ToSchema>() -> Option<Body> {
    Some(Body {
        name: || T::name().into_owned(),
        collect: collect::<T>,
        list: false,
    })
}

/// A JSON array of `T` as a body.
pub(crate) fn list<T: ToSchema>() -> Option<Body> {
    Some(Body {
        name: || T::name().into_owned(),
        collect: collect::<T>,
        list: true,
    })
}

/// Schemas of query parameters.
pub(crate) mod params {
    use chatalot_protocol::openapi::integer as int;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;

    pub fn limit_100() -> RefOr<Schema> {
        int(1, 100)
    }
    pub fn limit_200() -> RefOr<Schema> {
        int(1, 200)
    }
    pub fn limit_500() -> RefOr<Schema> {
        int(1, 500)
    }
    /// A sequence number: 0 or more.
    pub fn seq() -> RefOr<Schema> {
        int(0, 9_007_199_254_740_991)
    }
    pub fn uuid() -> RefOr<Schema> {
        chatalot_protocol::openapi::uuid_schema()
    }
    pub fn username() -> RefOr<Schema> {
        chatalot_protocol::openapi::login_username()
    }
    /// What a directory search looks for.
    pub fn search() -> RefOr<Schema> {
        chatalot_protocol::openapi::name_100()
    }
    /// An http(s) address.
    pub fn url() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^https?://"))
            .min_length(Some(1))
            .max_length(Some(chatalot_protocol::api::preview_limits::URL_MAX))
            .into()
    }
    /// What a GIF search looks for.
    pub fn gif_query() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(chatalot_protocol::api::gif_limits::QUERY_MAX))
            .into()
    }
    /// The `next` of an earlier page of GIFs.
    pub fn gif_pos() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(chatalot_protocol::api::gif_limits::POS_MAX))
            .into()
    }
    /// A plaintext channel's file name.
    pub fn file_name() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(chatalot_protocol::api::file_limits::NAME_MAX))
            .pattern(Some("^[^/\\\\\\x00-\\x1f\\x7f-\\x9f]*$"))
            .into()
    }
    /// A declared MIME type.
    pub fn file_type() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(chatalot_protocol::api::file_limits::TYPE_MAX))
            .pattern(Some("^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$"))
            .into()
    }
    /// What a public image is for.
    pub fn image_kind() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                chatalot_protocol::api::ImageKind::ALL.map(|k| k.as_str()),
            ))
            .into()
    }
    /// The `next_before` of an earlier page of the channel list.
    pub fn channel_cursor() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(
                "^[0-9]{1,17}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            ))
            .into()
    }
}
