//! `casebridge findings import FILE`: load findings from a JSON file.
//!
//! Why: seeding a deployment, replaying an export and demos need findings in without an HTTP
//! client; the import writes through the same store code as `POST …/findings/ingest`
//! ([`crate::store::Store::ingest_findings`]), so the same rules apply.
//!
//! Accepted files: the ingest body (`{"data": [<ListSecurityFindings item>, …]}`, e.g. a saved
//! list response) or a plain JSON array of finding objects as the schema page shows them
//! (root-level `finding_id`, `tags` inside). `-` reads stdin.
//!
//! Invariants: stdout carries exactly one line, a JSON summary
//! `{"file", "total", "created", "updated", "unchanged", "rejected", "errors": [...]}` (at most
//! [`MAX_REPORTED_ERRORS`] errors listed, `errors_truncated` says if more); a progress bar is
//! drawn on stderr only when stderr is a terminal; the command exits non-zero when any finding
//! was rejected (the valid ones are stored all the same).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::StoreArgs;
use crate::domain::finding::validate::PathSegment;
use crate::domain::finding::wire::{finding_from_api_item, finding_from_plain};
use crate::domain::finding::UpsertResult;
use crate::store::findings::IngestReport;
use crate::store::now_ms;

/// Errors listed in the summary line.
pub const MAX_REPORTED_ERRORS: usize = 50;

#[derive(Debug, Args)]
pub struct FindingsArgs {
    #[command(subcommand)]
    pub command: FindingsCommand,
}

#[derive(Debug, Subcommand)]
pub enum FindingsCommand {
    /// Import findings from a JSON file (an ingest body or a plain array of findings).
    Import {
        /// The file to read (`-` for stdin).
        file: PathBuf,
        /// Findings written per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=5000))]
        batch_size: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The two file shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"data": [items]}`.
    IngestBody,
    /// `[finding objects]`.
    PlainArray,
}

fn read_items(text: &str) -> anyhow::Result<(Shape, Vec<Value>)> {
    let value: Value = serde_json::from_str(text).context("the file is not valid JSON")?;
    match value {
        Value::Array(items) => Ok((Shape::PlainArray, items)),
        Value::Object(mut map) => match map.remove("data") {
            Some(Value::Array(items)) => Ok((Shape::IngestBody, items)),
            _ => anyhow::bail!(
                "expected {{\"data\": [...]}} (the ingest / list shape) or a JSON array of findings"
            ),
        },
        _ => anyhow::bail!(
            "expected {{\"data\": [...]}} (the ingest / list shape) or a JSON array of findings"
        ),
    }
}

pub async fn run(args: FindingsArgs) -> anyhow::Result<()> {
    match args.command {
        FindingsCommand::Import {
            file,
            batch_size,
            store,
        } => import(file, batch_size as usize, store).await,
    }
}

async fn import(file: PathBuf, batch_size: usize, store_args: StoreArgs) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        text
    } else {
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
    };
    let (shape, items) = read_items(&text).with_context(|| format!("{}", file.display()))?;
    drop(text);
    let total = items.len();
    let store = store_args.open().await?;
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} findings ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let mut report = IngestReport::default();
    let mut offset = 0;
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<Value> = items.by_ref().take(batch_size).collect();
        if chunk.is_empty() {
            break;
        }
        let len = chunk.len();
        let parsed = chunk
            .into_iter()
            .map(|item| match shape {
                Shape::IngestBody => finding_from_api_item(item),
                Shape::PlainArray => finding_from_plain(item),
            })
            .collect();
        let part = store.ingest_findings(parsed, offset, now_ms()).await?;
        report.extend(part);
        offset += len;
        if let Some(bar) = &progress {
            bar.inc(len as u64);
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    store.close().await;
    let summary = summary(&file.display().to_string(), shape, total, &report);
    println!("{summary}");
    if !report.refused.is_empty() {
        anyhow::bail!(
            "{} of {total} findings were rejected (see the summary on stdout); the others were stored",
            report.refused.len()
        );
    }
    Ok(())
}

fn summary(file: &str, shape: Shape, total: usize, report: &IngestReport) -> Value {
    let prefix: Vec<PathSegment> = match shape {
        Shape::IngestBody => vec![PathSegment::Key("data".into())],
        Shape::PlainArray => Vec::new(),
    };
    let mut errors = Vec::new();
    for item in &report.refused {
        let mut at = prefix.clone();
        at.push(PathSegment::Index(item.index));
        for error in &item.errors {
            let full = error.clone().under(&at);
            errors.push(json!({"index": item.index, "id": item.id, "path": full.dotted_path(), "detail": full.to_string()}));
        }
    }
    let truncated = errors.len() > MAX_REPORTED_ERRORS;
    errors.truncate(MAX_REPORTED_ERRORS);
    json!({
        "file": file,
        "total": total,
        "created": report.count(UpsertResult::Created),
        "updated": report.count(UpsertResult::Updated),
        "unchanged": report.count(UpsertResult::Unchanged),
        "rejected": report.refused.len(),
        "errors": errors,
        "errors_truncated": truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_file_shapes_are_recognised() {
        assert_eq!(read_items("[{}]").unwrap().0, Shape::PlainArray);
        assert_eq!(read_items("{\"data\": []}").unwrap().0, Shape::IngestBody);
        assert!(read_items("{\"findings\": []}").is_err());
        assert!(read_items("{").is_err());
        assert!(read_items("3").is_err());
    }
}
