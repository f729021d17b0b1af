//! The API's answers as people read them. JSON output never comes through here: it is the
//! answer's body as it came.

use chrono::Utc;
use serde_json::Value;

use super::table::{Table, fields, maybe_time, time};
use crate::http::ProviderList;
use crate::http::views::{
    ConnectionList, ConnectionView, GrantList, KeyList, PrincipalList, PrincipalView, TokenResponse,
};
use crate::providers::fields::FieldInfo;

pub fn connections(list: &ConnectionList) -> String {
    let mut table = Table::new(&["ID", "PROVIDER", "STATUS", "TOKEN EXPIRES", "LAST ERROR", "DESCRIPTION"]);
    for c in &list.connections {
        table.row(vec![
            c.id.clone(),
            c.provider.clone(),
            c.status.as_str().to_owned(),
            maybe_time(c.token.as_ref().and_then(|t| t.expires_at.as_ref())),
            c.last_error.as_ref().map_or_else(|| "-".to_owned(), |e| format!("{}: {}", e.code, e.detail)),
            c.description.clone(),
        ]);
    }
    table.render("no connections")
}

pub fn connection(c: &ConnectionView) -> String {
    let token = match &c.token {
        None => "none".to_owned(),
        Some(t) => {
            let refresh = match (t.has_refresh_token, &t.refresh_token_expires_at) {
                (false, _) => "no refresh token".to_owned(),
                (true, None) => "refresh token held".to_owned(),
                (true, Some(end)) => format!("refresh token held until {}", time(end)),
            };
            format!(
                "expires {}, obtained {}, {refresh}",
                maybe_time(t.expires_at.as_ref()),
                maybe_time(t.obtained_at.as_ref())
            )
        }
    };
    let last_error = c
        .last_error
        .as_ref()
        .map_or_else(|| "none".to_owned(), |e| format!("{}: {} (at {})", e.code, e.detail, time(&e.at)));
    let secrets = if c.secrets.is_empty() {
        "none".to_owned()
    } else {
        format!("{} (values are never shown)", c.secrets.join(", "))
    };
    let mut pairs = vec![
        ("id", c.id.clone()),
        ("provider", c.provider.clone()),
        ("description", c.description.clone()),
        ("status", c.status.as_str().to_owned()),
        ("config", config(&c.config)),
        ("secrets", secrets),
        ("token", token),
        ("last error", last_error),
    ];
    if let Some(endpoints) = &c.endpoints {
        pairs.push(("token url", endpoints.token_url.clone()));
        pairs.push(("refresh url", endpoints.refresh_url.clone().unwrap_or_else(|| "-".into())));
        pairs.push(("api base url", endpoints.api_base_url.clone().unwrap_or_else(|| "-".into())));
    }
    pairs.push(("created", time(&c.created_at)));
    pairs.push(("updated", time(&c.updated_at)));
    fields(&pairs)
}

/// `name = value` per line; strings bare, anything else as compact JSON.
fn config(config: &Value) -> String {
    let Some(map) = config.as_object().filter(|m| !m.is_empty()) else { return "none".to_owned() };
    let lines: Vec<String> = map
        .iter()
        .map(|(name, value)| match value {
            Value::String(s) => format!("{name} = {s}"),
            other => format!("{name} = {other}"),
        })
        .collect();
    lines.join("\n")
}

pub fn principals(list: &PrincipalList) -> String {
    let mut table = Table::new(&["ID", "ROLE", "CREATED", "DESCRIPTION"]);
    for p in &list.principals {
        table.row(vec![p.id.clone(), p.role.as_str().to_owned(), time(&p.created_at), p.description.clone()]);
    }
    table.render("no principals")
}

pub fn principal(p: &PrincipalView) -> String {
    fields(&[
        ("id", p.id.clone()),
        ("role", p.role.as_str().to_owned()),
        ("description", p.description.clone()),
        ("created", time(&p.created_at)),
    ])
}

pub fn keys(list: &KeyList) -> String {
    let mut table = Table::new(&["KEY ID", "CREATED", "EXPIRES", "REVOKED"]);
    for k in &list.keys {
        table.row(vec![
            k.key_id.clone(),
            time(&k.created_at),
            k.expires_at.as_ref().map_or_else(|| "never".to_owned(), time),
            maybe_time(k.revoked_at.as_ref()),
        ]);
    }
    table.render("no keys")
}

pub fn grants(list: &GrantList) -> String {
    let mut table = Table::new(&["GRANT"]);
    for g in &list.grants {
        table.row(vec![g.clone()]);
    }
    table.render("no grants")
}

/// The token answer in full: printing it is what the command is for.
pub fn token(t: &TokenResponse) -> String {
    let seconds_left = (t.expires_at - Utc::now()).num_seconds().max(0);
    let headers: Vec<String> = t.headers.iter().map(|(name, value)| format!("{name}: {value}")).collect();
    fields(&[
        ("connection", t.connection_id.clone()),
        ("token type", t.token_type.clone()),
        ("expires", format!("{} (in {seconds_left} s)", time(&t.expires_at))),
        ("access token", t.access_token.clone()),
        ("api base url", t.api_base_url.clone().unwrap_or_else(|| "-".into())),
        ("headers", headers.join("\n")),
    ])
}

pub fn providers(list: &ProviderList) -> String {
    let mut table = Table::new(&["PROVIDER", "GRANTS", "CONFIG (* required)", "SECRETS (* required)"]);
    for p in &list.providers {
        table.row(vec![p.name.clone(), p.grants.join(", "), field_names(&p.config), field_names(&p.secrets)]);
    }
    let mut out = table.render("no providers");
    out.push_str("\nDefaults and descriptions of each field: tokenbroker providers --output json\n");
    out
}

fn field_names(fields: &[FieldInfo]) -> String {
    let names: Vec<String> =
        fields.iter().map(|f| if f.required { format!("{}*", f.name) } else { f.name.clone() }).collect();
    if names.is_empty() { "-".to_owned() } else { names.join(", ") }
}
