//! Plain-text tables and field lists for people. Every cell goes through [`one_line`], so text
//! from the broker (descriptions, vendor errors) cannot break a row or drive the terminal.

use chrono::{DateTime, Utc};

use super::error::one_line;

pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table { header: header.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| one_line(c)).collect());
    }

    /// Columns two spaces apart, the last one unpadded; `empty` alone when there are no rows.
    pub fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("{empty}\n");
        }
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        let mut widths = vec![0; header.len()];
        for row in std::iter::once(&header).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let last = row.len().saturating_sub(1);
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| if i == last { cell.clone() } else { format!("{cell:<width$}", width = widths[i]) })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// `label:` and value lines, labels aligned; a value with several lines continues under itself.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(label, _)| label.chars().count() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let mut lines = value.split('\n');
        let first = lines.next().unwrap_or_default();
        out.push_str(format!("{:<width$}  {}", format!("{label}:"), one_line(first)).trim_end());
        out.push('\n');
        for more in lines {
            out.push_str(&format!("{:<width$}  {}\n", "", one_line(more)));
        }
    }
    out
}

pub fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

pub fn maybe_time(at: Option<&DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), time)
}
