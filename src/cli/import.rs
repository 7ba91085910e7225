//! `kinship import`: stream a file into the registry in batches.

use crate::registry::{BulkOptions, IngestReport, Registry};
use anyhow::Context;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Imports `file` with the bulk pipeline, `batch` records per ledger
/// transaction, with a progress bar on a terminal (records/s and ETA) or
/// a line every few seconds otherwise. Memory stays bounded whatever the
/// file size.
pub async fn import_file(
    registry: &Registry,
    file: &Path,
    batch: usize,
) -> anyhow::Result<IngestReport> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("opening {}", file.display()))?
        .len();
    let progress = Progress::new(size);
    let opts = BulkOptions { transaction: batch };
    let report = registry
        .import_bulk(file, &opts, |p| progress.update(p.bytes, &p.report))
        .await
        .with_context(|| format!("importing {}", file.display()))?;
    progress.finish();
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
                    "{bar:40} {bytes}/{total_bytes} eta {eta} {msg}",
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
                let secs = self.started.elapsed().as_secs_f64().max(0.001);
                b.set_message(format!(
                    "{:.0} records/s, {} accepted, {} refused",
                    r.lines as f64 / secs,
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
