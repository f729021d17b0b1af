//! Searching for secrets where they must never be: API answers, log lines, database rows.

use sqlx::AssertSqlSafe;

use super::db::{DbHandle, TestDb};

/// A place searched and its text.
pub struct Haystack {
    pub place: String,
    pub text: String,
}

/// A secret to search for and what it is (for the failure message).
pub struct Needle {
    pub what: String,
    pub value: String,
}

impl Needle {
    pub fn new(what: &str, value: &str) -> Needle {
        Needle { what: what.to_owned(), value: value.to_owned() }
    }
}

/// Every `(needle, place)` where a needle occurs, with a little context.
pub fn find(needles: &[Needle], haystacks: &[Haystack]) -> Vec<String> {
    let mut found = Vec::new();
    for needle in needles {
        for hay in haystacks {
            if let Some(at) = hay.text.find(&needle.value) {
                let start = floor_char_boundary(&hay.text, at.saturating_sub(60));
                let end = floor_char_boundary(&hay.text, (at + needle.value.len() + 60).min(hay.text.len()));
                found.push(format!("{} found in {}: …{}…", needle.what, hay.place, &hay.text[start..end]));
            }
        }
    }
    found
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Each needle, plus its lowercase hex form: that is how `bytea` shows in `row_to_json`.
pub fn with_hex_forms(needles: &[Needle]) -> Vec<Needle> {
    needles
        .iter()
        .flat_map(|n| {
            [
                Needle::new(&n.what, &n.value),
                Needle::new(
                    &format!("{} (hex)", n.what),
                    &n.value.bytes().map(|b| format!("{b:02x}")).collect::<String>(),
                ),
            ]
        })
        .collect()
}

/// Everything the database holds. PostgreSQL: every row of every table in `public`, as JSON
/// text. SQLite: the raw bytes of the database file and its write-ahead log, free pages
/// included (where a deleted or overwritten value would linger).
pub async fn dump_database(db: &TestDb) -> Vec<Haystack> {
    if let Some(file) = db.sqlite_file() {
        let mut files = vec![file.clone()];
        files.push(file.with_extension("db-wal"));
        return files
            .into_iter()
            .filter(|f| f.exists())
            .map(|f| {
                let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
                Haystack { place: format!("file {}", f.display()), text: String::from_utf8_lossy(&bytes).into_owned() }
            })
            .collect();
    }
    let DbHandle::Postgres(pool) = db.handle().await else { unreachable!("not SQLite, so PostgreSQL") };
    let pool = &pool;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("list tables");
    assert!(!tables.is_empty(), "the broker's database has no tables in schema public");
    let mut rows = Vec::new();
    for table in tables {
        let quoted = table.replace('"', "\"\"");
        let texts: Vec<String> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT row_to_json(t)::text FROM \"{quoted}\" t")))
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("dump table {table}: {e}"));
        rows.extend(
            texts.into_iter().enumerate().map(|(i, text)| Haystack { place: format!("table {table} row {i}"), text }),
        );
    }
    rows
}
