//! The OpenAPI document, generated from the routes themselves (utoipa-axum registers a route
//! and its description in one call, so they cannot drift), served at `/openapi.json`, printed by
//! `tokenbroker openapi`, and committed at `openapi/openapi.json`.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokenbroker",
        description = "Holds vendors' OAuth credentials encrypted and hands short-lived access tokens, with every header the vendor wants, to internal services. Errors are RFC 7807 problem+json with a machine-readable `code`.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&ApiKeyAuth),
    // Referenced by a query parameter, which utoipa does not collect by itself.
    components(schemas(super::audit::AuditAction)),
    tags(
        (name = "tokens", description = "Fetch access tokens (service with a grant, or admin)"),
        (name = "connections", description = "Vendor accounts and their credentials (admin)"),
        (name = "principals", description = "Callers, API keys and grants (admin)"),
        (name = "providers", description = "Supported vendors and their fields"),
        (name = "audit", description = "Admin changes (admin)"),
        (name = "operations", description = "Health and readiness (no key)"),
    ),
)]
struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tbk_…")
                    .description(Some("An API key from POST /v1/principals/{id}/keys"))
                    .build(),
            ),
        );
    }
}

pub(super) fn base() -> Document {
    let mut doc = ApiDoc::openapi();
    // The version is the crate's, so a release changes the document in one place.
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub fn document() -> Document {
    let mut doc = super::api_routes().into_openapi();
    complete(&mut doc);
    doc
}

/// What the route annotations cannot say because it is data: the provider names a create
/// accepts come from the same table that validates it.
pub(super) fn complete(doc: &mut Document) {
    let names = crate::providers::all().iter().map(|p| serde_json::Value::from(p.name)).collect();
    let provider = doc.components.as_mut().and_then(|c| c.schemas.get_mut("CreateConnection")).and_then(|s| match s {
        RefOr::T(Schema::Object(o)) => o.properties.get_mut("provider"),
        _ => None,
    });
    if let Some(RefOr::T(Schema::Object(provider))) = provider {
        provider.enum_values = Some(names);
    }
}

/// The document as committed and printed: pretty JSON with a trailing newline.
pub fn to_pretty_json() -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(&document())?;
    text.push('\n');
    Ok(text)
}

pub fn print() -> anyhow::Result<()> {
    print!("{}", to_pretty_json()?);
    Ok(())
}
