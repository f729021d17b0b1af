//! `keys` holds two kinds of keys: master keys (`status`, on the database) and principals' API
//! keys (`create|list|revoke`, through a broker). The help says which is which.

use crate::harness::admin_cli::AdminCli;

#[tokio::test]
async fn keys_help_tells_master_keys_from_api_keys() {
    // Help needs no broker.
    let cli = AdminCli::new("http://127.0.0.1:9", None);
    let help = cli.ok(&["keys", "--help"]).await;
    let line = |name: &str| {
        help.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` in:\n{help}"))
            .to_owned()
    };
    assert!(line("status").contains("Master keys") && line("status").contains("database directly"), "{help}");
    for command in ["create", "list", "revoke"] {
        assert!(line(command).contains("through a broker's API"), "{help}");
    }
    let top = cli.ok(&["--help"]).await;
    assert!(top.contains("TOKENBROKER_URL") && top.contains("TOKENBROKER_API_KEY"), "{top}");
}
