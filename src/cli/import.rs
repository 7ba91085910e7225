//! `kinship import`: stream a file into the registry in batches.

use crate::registry::{IngestReport, Lines, Registry};
use anyhow::Context;
use std::io::{BufReader, IsTerminal};
use std::path::Path;
use std::time::{Duration, Instant};

/// Imports `file` in batches of `batch` lines. Memory stays bounded by the
/// batch size whatever the file size.
pub async fn import_file(
    registry: &Registry,
    file: &Path,
    batch: usize,
) -> anyhow::Result<IngestReport> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut lines = Lines::new(BufReader::with_capacity(1 << 20, f));
    let progress = Progress::new(size);
    let mut report = IngestReport::default();
    let mut pending = Vec::with_capacity(batch);
    loop {
        let next = lines
            .next()
            .transpose()
            .with_context(|| format!("reading {}", file.display()))?;
        let end = next.is_none();
        pending.extend(next);
        if pending.len() >= batch || (end && !pending.is_empty()) {
            let outcomes = registry
                .ingest(&pending, &name)
                .await
                .context("writing to the ledger")?;
            report.add(&outcomes);
            pending.clear();
            progress.update(lines.consumed, &report);
        }
        if end {
            break;
        }
    }
    progress.finish();
    report.blank = lines.blank();
    Ok(report)
}

pub fn print_summary(file: &Path, r: &IngestReport) {
    println!(
        "{}: {} records read ({} blank lines skipped)",
        file.display(),
        r.lines,
        r.blank
    );
    println!("  accepted    {}", r.accepted);
    println!("  duplicates  {}", r.duplicates);
    println!("  refused     {}", r.refused_total());
    for (code, n) in &r.refused {
        println!("    {code:<26} {n}");
    }
    if r.refused_total() > 0 {
        println!("  (see why with: kinship refused)");
    }
}

/// A progress bar on a terminal, a plain line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(size: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(size);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta} {msg}",
                )
                .expect("valid template"),
            );
            b
        });
        Progress {
            bar,
            started: Instant::now(),
            last: std::cell::Cell::new(Instant::now()),
        }
    }

    fn update(&self, consumed: u64, r: &IngestReport) {
        match &self.bar {
            Some(b) => {
                b.set_position(consumed);
                b.set_message(format!(
                    "{} accepted, {} refused",
                    r.accepted,
                    r.refused_total()
                ));
            }
            None if self.last.get().elapsed() >= Duration::from_secs(5) => {
                self.last.set(Instant::now());
                let secs = self.started.elapsed().as_secs_f64();
                eprintln!(
                    "{} records ({} accepted, {} duplicates, {} refused), {:.0} records/s",
                    r.lines,
                    r.accepted,
                    r.duplicates,
                    r.refused_total(),
                    r.lines as f64 / secs
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
