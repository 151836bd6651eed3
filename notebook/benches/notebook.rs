//! Parsing, incremental reparsing and analysis of a large notebook: 10,000
//! cells, about 1 MB. Run with `cargo bench -p databook-notebook --bench
//! notebook`; after criterion's measurements it prints keystroke latency
//! percentiles, which criterion does not report.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use databook_notebook::{
    Catalog, Document, HeaderAnalysis, PluginInfo, analyze, header_diagnostics, parse,
};

struct BenchCatalog;

impl Catalog for BenchCatalog {
    fn lookup(&self, name: &str) -> PluginInfo {
        match name {
            "prometheus" | "jq" | "http" => PluginInfo::Known {
                options: vec!["range".to_owned(), "step".to_owned()],
            },
            _ => PluginInfo::Unknown,
        }
    }

    fn names(&self) -> Vec<String> {
        vec!["prometheus".to_owned(), "jq".to_owned(), "http".to_owned()]
    }
}

/// A notebook of `cells` cells of about 100 bytes each: a line of prose, a
/// header with options (every third cell taking the one above as input), a
/// one-line body and a one-line output block.
fn notebook(cells: usize) -> String {
    let mut text = String::from("# A large notebook\n\n");
    for i in 0..cells {
        let plugin = ["prometheus", "jq", "http"][i % 3];
        let input = if i % 3 == 1 {
            format!(" input=c{}", i - 1)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "Cell {i}.\n\
             @plugin={plugin} name=c{i}{input} step=30s\n\
             rate(requests{{job=\"j{i}\"}}[5m])\n\
             @output status=ok mime=text/plain\n\
             > value {i}\n\n"
        ));
    }
    text
}

/// The offset of the middle cell's body, where the keystrokes go.
fn middle_body(doc: &Document) -> usize {
    let cells = &doc.parse().cells;
    cells[cells.len() / 2].body.start + 3
}

fn benches(c: &mut Criterion) {
    let text = notebook(10_000);
    eprintln!(
        "notebook: {} cells, {} bytes",
        parse(&text).cells.len(),
        text.len()
    );

    c.bench_function("open: parse 10,000 cells", |b| {
        b.iter(|| parse(black_box(&text)))
    });

    c.bench_function("keystroke: insert a character and reparse", |b| {
        let mut doc = Document::new(text.clone());
        let at = middle_body(&doc);
        let mut inserted = false;
        b.iter(|| {
            // Type and delete in turn, so that the document stays the same
            // size over the measurement.
            if inserted {
                doc.apply(at..at + 1, "");
            } else {
                doc.apply(at..at, "x");
            }
            inserted = !inserted;
        })
    });

    // What the language server does on a keystroke: the document is left
    // unsettled, and nothing after the edited cell moves.
    c.bench_function(
        "keystroke: insert a character, left unsettled (edit)",
        |b| {
            let mut doc = Document::new(text.clone());
            let at = middle_body(&doc);
            let mut inserted = false;
            b.iter(|| {
                if inserted {
                    doc.edit(at..at + 1, "");
                } else {
                    doc.edit(at..at, "x");
                }
                inserted = !inserted;
            })
        },
    );

    let p = parse(&text);
    c.bench_function("analyze 10,000 cells", |b| {
        b.iter(|| analyze(black_box(&p), &text, &BenchCatalog))
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Keystroke latency as an editor sees it: each edit applied and reparsed,
/// timed one by one.
fn keystroke_percentiles() {
    let mut doc = Document::new(notebook(10_000));
    let at = middle_body(&doc);
    let mut times = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let t = Instant::now();
        if i % 2 == 0 {
            doc.apply(at..at, "x");
        } else {
            doc.apply(at..at + 1, "");
        }
        times.push(t.elapsed());
    }
    // The same keystrokes left unsettled, as the language server leaves
    // them until something reads the whole document.
    let mut unsettled = Vec::with_capacity(20_000);
    for i in 0..20_000 {
        let t = Instant::now();
        if i % 2 == 0 {
            doc.edit(at..at, "x");
        } else {
            doc.edit(at..at + 1, "");
        }
        unsettled.push(t.elapsed());
    }
    doc.settle();
    // A newline typed into a body and removed again: the cell structure
    // around the edit is read anew.
    let mut newline_times = Vec::with_capacity(2_000);
    for i in 0..2_000 {
        let t = Instant::now();
        if i % 2 == 0 {
            doc.apply(at..at, "\n@");
        } else {
            doc.apply(at..at + 2, "");
        }
        newline_times.push(t.elapsed());
    }
    // A character typed into the middle cell's name and removed again, with
    // the header diagnostics brought up to date: kept across edits, and
    // from scratch.
    let name_end = {
        let cell = &doc.parse().cells[5_000];
        let name = cell.header.option("name").unwrap();
        cell.header.at(&name.value.local).end
    };
    let mut analysis = HeaderAnalysis::default();
    analysis.update(&doc, 0, &BenchCatalog);
    let mut incremental = Vec::with_capacity(2_000);
    let mut scratch = Vec::with_capacity(2_000);
    let mut draft = Vec::with_capacity(2_000);
    for i in 0..2_000 {
        let t = Instant::now();
        if i % 2 == 0 {
            doc.edit(name_end..name_end, "x");
        } else {
            doc.edit(name_end..name_end + 1, "");
        }
        black_box(analysis.update(&doc, 0, &BenchCatalog));
        draft.push(t.elapsed());
    }
    doc.settle();
    for i in 0..4_000 {
        let t = Instant::now();
        if i % 2 == 0 {
            doc.apply(name_end..name_end, "x");
        } else {
            doc.apply(name_end..name_end + 1, "");
        }
        if i < 2_000 {
            black_box(analysis.update(&doc, 0, &BenchCatalog));
            incremental.push(t.elapsed());
        } else {
            black_box(header_diagnostics(doc.parse(), doc.text(), &BenchCatalog));
            scratch.push(t.elapsed());
        }
    }
    for (what, samples) in [
        (
            "header keystroke, edit (unsettled) + HeaderAnalysis::update",
            &mut draft,
        ),
        ("header keystroke, HeaderAnalysis::update", &mut incremental),
        (
            "header keystroke, header_diagnostics from scratch",
            &mut scratch,
        ),
    ] {
        samples.sort();
        eprintln!(
            "{what}: p50 {:?} p99 {:?}",
            percentile(samples, 0.5),
            percentile(samples, 0.99)
        );
    }

    times.sort();
    unsettled.sort();
    newline_times.sort();
    eprintln!(
        "keystroke (character) p50 {:?} p99 {:?} max {:?}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );
    eprintln!(
        "keystroke (character), edit left unsettled p50 {:?} p99 {:?} max {:?}",
        percentile(&unsettled, 0.5),
        percentile(&unsettled, 0.99),
        unsettled[unsettled.len() - 1]
    );
    eprintln!(
        "keystroke (newline and @) p50 {:?} p99 {:?}",
        percentile(&newline_times, 0.5),
        percentile(&newline_times, 0.99)
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    keystroke_percentiles();
}
