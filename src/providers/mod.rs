//! Providers: how tokens are obtained from each kind of vendor.
//!
//! One data-driven OAuth 2.0 engine; each built-in vendor is a preset (a [`ProviderDef`]
//! that resolves a connection's config into a [`Plan`]), and `oauth2` describes a vendor we
//! have never seen entirely by config.

pub mod address;
pub mod error;
pub mod fields;
mod jwt;
mod oauth2;
pub mod plan;
mod presets;
mod response;
mod transport;
pub mod vendor;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use error::VendorError;
pub use plan::{HeaderSource, Plan};
pub use response::TokenGrant;
pub use vendor::VendorClient;

use crate::validation::ValidationErrors;
use fields::{FieldDef, FieldInfo};
use plan::ConfigReader;

/// Resolves config into a plan; `has_secret` tells which secrets the connection holds.
/// Problems are recorded in the reader; `None` when the plan cannot be built at all.
type BuildFn = fn(&mut ConfigReader<'_>, &dyn Fn(&str) -> bool) -> Option<Plan>;

pub struct ProviderDef {
    pub name: &'static str,
    pub description: &'static str,
    pub grants: &'static [&'static str],
    pub config: &'static [FieldDef],
    pub secrets: &'static [FieldDef],
    build: BuildFn,
}

const PROVIDERS: &[ProviderDef] =
    &[presets::QUBS, presets::QBENCH, presets::CUBU, presets::QUIQUP, presets::QFLOW, oauth2::OAUTH2];

pub fn find(name: &str) -> Option<&'static ProviderDef> {
    PROVIDERS.iter().find(|p| p.name == name)
}

pub fn all() -> &'static [ProviderDef] {
    PROVIDERS
}

impl ProviderDef {
    /// Validates config and secret names and resolves the plan, naming every bad field.
    pub fn resolve(
        &self,
        config: &Value,
        secret_names: &[&str],
        allow_insecure_urls: bool,
    ) -> Result<Plan, ValidationErrors> {
        let Some(config) = config.as_object() else {
            return Err(ValidationErrors::single("config", "must be an object"));
        };
        let mut reader = ConfigReader::new(config, allow_insecure_urls);
        fields::check_config(self.config, config, &mut reader.errors);
        let has_secret = |name: &str| secret_names.contains(&name);
        // Only build from a config whose fields are right, so builders can rely on them.
        let plan = if reader.errors.is_empty() { (self.build)(&mut reader, &has_secret) } else { None };
        let mut errors = reader.errors;
        // Secrets named by `static_headers` are known, and required: the header needs a value.
        let known: Vec<(&str, bool)> = self
            .secrets
            .iter()
            .map(|d| (d.name, d.required))
            .chain(plan.iter().flat_map(Plan::header_secrets).map(|n| (n, true)))
            .collect();
        fields::check_secrets(&known, secret_names.iter().copied(), &mut errors);
        match plan {
            Some(plan) if errors.is_empty() => Ok(plan),
            _ if errors.is_empty() => Err(ValidationErrors::single("config", "cannot be used with this provider")),
            _ => Err(errors),
        }
    }

    /// The secret names to resolve a connection's plan with: those stored, plus `refresh_token`
    /// when the token state holds one and this provider takes it as a secret (Qflow, `oauth2`).
    /// Providers whose refresh tokens only ever come from the vendor (QBench, Quiqup) do not.
    pub fn secret_names(&self, stored: &[String], has_refresh_token: bool) -> Vec<String> {
        let mut names = stored.to_vec();
        let declared = self.secrets.iter().any(|d| d.name == crate::domain::REFRESH_TOKEN);
        if has_refresh_token && declared && !names.iter().any(|n| n == crate::domain::REFRESH_TOKEN) {
            names.push(crate::domain::REFRESH_TOKEN.to_owned());
        }
        names
    }

    /// Where a stored connection's vendor calls go, defaults included, for its view. `None`
    /// when its config no longer makes a plan (the token endpoint then says why).
    pub fn endpoints(&self, config: &Value, secret_names: &[String]) -> Option<Endpoints> {
        let names = self.secret_names(secret_names, true);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        // Only shown, never called: the URLs were checked when the config was stored, and are
        // checked again, address by address, when the broker connects.
        let plan = self.resolve(config, &names, true).ok()?;
        Some(Endpoints {
            token_url: plan.token_url.to_string(),
            refresh_url: plan.refresh.as_ref().map(|r| r.url.to_string()),
            api_base_url: plan.api_base_url,
        })
    }

    pub fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            grants: self.grants.iter().map(|g| (*g).to_owned()).collect(),
            config: self.config.iter().map(FieldInfo::from).collect(),
            secrets: self.secrets.iter().map(FieldInfo::from).collect(),
        }
    }
}

/// The effective vendor URLs of a connection, defaults included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Endpoints {
    /// Where tokens are requested.
    pub token_url: String,
    /// Where refresh tokens are used, when the provider uses them.
    pub refresh_url: Option<String>,
    /// Handed out with each token, when configured.
    pub api_base_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderInfo {
    pub name: String,
    pub description: String,
    pub grants: Vec<String>,
    pub config: Vec<FieldInfo>,
    pub secrets: Vec<FieldInfo>,
}
