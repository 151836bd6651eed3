//! `HeaderAnalysis` kept up to date across edits finds what an analysis
//! from scratch finds.

use databook_notebook::{
    Catalog, Diagnostic, Document, HeaderAnalysis, PluginInfo, header_diagnostics, references,
};
use proptest::prelude::*;

/// jq takes no option, prometheus takes `range`; `broken` failed to load.
struct TestCatalog {
    /// Whether `http` is installed.
    http: bool,
}

impl Catalog for TestCatalog {
    fn lookup(&self, name: &str) -> PluginInfo {
        match name {
            "jq" => PluginInfo::Known { options: vec![] },
            "prometheus" => PluginInfo::Known {
                options: vec!["range".to_owned()],
            },
            "http" if self.http => PluginInfo::Known { options: vec![] },
            "broken" => PluginInfo::Failed {
                reason: "config.toml:1: unknown key".to_owned(),
            },
            _ => PluginInfo::Unknown,
        }
    }

    fn names(&self) -> Vec<String> {
        let mut names = vec!["jq".to_owned(), "prometheus".to_owned()];
        if self.http {
            names.push("http".to_owned());
        }
        names
    }
}

const CATALOG: TestCatalog = TestCatalog { http: false };

fn fresh(doc: &Document, catalog: &dyn Catalog) -> Vec<Diagnostic> {
    header_diagnostics(doc.parse(), doc.text(), catalog)
}

/// Headers with few names, so that names repeat, inputs find cells or not,
/// and cycles form; with bodies (some taking values from cells) and prose
/// between.
fn notebook() -> impl Strategy<Value = String> {
    let header = (
        prop::sample::select(vec!["jq", "prometheus", "broken", "jqq", "http"]),
        prop::option::of(prop::sample::select(vec!["a", "b", "c", "1x"])),
        prop::option::of(prop::sample::select(vec!["a", "b", "c", "d"])),
        prop::option::of(prop::sample::select(vec![
            "range=5m",
            "timeout=0s",
            "rnge=1",
        ])),
    )
        .prop_map(|(plugin, name, input, extra)| {
            let mut line = format!("@plugin={plugin}");
            if let Some(name) = name {
                line.push_str(&format!(" name={name}"));
            }
            if let Some(input) = input {
                line.push_str(&format!(" input={input}"));
            }
            if let Some(extra) = extra {
                line.push_str(&format!(" {extra}"));
            }
            line
        });
    let line = prop_oneof![
        3 => header,
        1 => Just(".body".to_owned()),
        1 => prop::sample::select(vec!["{{a.x}}", "GET {{ b[0].id }} {{c.y}}", "{{d.z}} {{HOST}}", "\\{{a.x}}"]).prop_map(str::to_owned),
        1 => Just(String::new()),
        1 => Just("@end".to_owned()),
    ];
    prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
}

/// Edits that change names and inputs, add and remove headers, or touch
/// nothing but a body.
fn edit_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(" name=c".to_owned()),
        Just(" input=a".to_owned()),
        Just("{{b.k}}".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("\n@plugin=jq name=b input=c\n".to_owned()),
        Just("\n".to_owned()),
        Just("@".to_owned()),
        "[a-c =\n@]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn incremental_equals_analysis_from_scratch(
        text in notebook(),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0usize..12, edit_text(), any::<bool>()),
            1..10,
        ),
    ) {
        let mut doc = Document::new(text);
        let mut analysis = HeaderAnalysis::default();
        prop_assert_eq!(
            analysis.update(&doc, 0, &CATALOG),
            fresh(&doc, &CATALOG)
        );
        for (at, len, new_text, settle) in edits {
            // The analysis reads the document as a keystroke leaves it,
            // unsettled, or settled now and then.
            let start = at.index(doc.len() + 1);
            doc.edit(start..start + len, &new_text);
            if settle {
                doc.settle();
            }
            let found = analysis.update(&doc, 0, &CATALOG);
            let doc = {
                let mut settled = doc.clone();
                settled.settle();
                settled
            };
            prop_assert_eq!(
                found,
                fresh(&doc, &CATALOG),
                "after replacing {}..{} with {:?}:\n{}", start, start + len, new_text, doc.text()
            );
            // Which cells are taken, as kept across edits, is what reading
            // the references from scratch says.
            let refs = references(doc.parse(), doc.text());
            for cell in 0..doc.parse().cells.len() {
                prop_assert_eq!(
                    analysis.has_dependents(cell),
                    refs.has_dependents(cell),
                    "cell {} after replacing {}..{} with {:?}:\n{}", cell, start, start + len, new_text, doc.text()
                );
            }
            // And so are the cells whose bodies have `{{`.
            let with_braces: Vec<usize> = (doc.parse().cells.iter())
                .filter(|cell| doc.text()[cell.body.clone()].contains("{{"))
                .map(|cell| cell.index)
                .collect();
            prop_assert_eq!(analysis.cells_with_braces().collect::<Vec<_>>(), with_braces);
        }
    }
}

#[test]
fn a_new_catalog_generation_reads_every_header_again() {
    let doc = Document::new("@plugin=http name=a\n.\n@plugin=jq input=a\n.\n");
    let mut analysis = HeaderAnalysis::default();
    let before = analysis.update(&doc, 1, &CATALOG);
    assert_eq!(
        before.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["unknown-plugin"]
    );
    // Same generation: what was found for the unchanged header is kept,
    // even though the catalog would now say otherwise.
    let installed = TestCatalog { http: true };
    assert_eq!(analysis.update(&doc, 1, &installed), before);
    // The next generation sees http installed.
    assert_eq!(analysis.update(&doc, 2, &installed), []);
}

#[test]
fn many_names_typed_and_deleted_leave_the_same_findings() {
    // More distinct names than the interned table keeps before it starts
    // afresh, typed one after the other into one header.
    let mut doc = Document::new("@plugin=jq name=n\n.\n@plugin=jq name=m input=n\n.\n");
    let mut analysis = HeaderAnalysis::default();
    let at = "@plugin=jq name=n".len();
    for i in 0..3000 {
        let digits = i.to_string();
        doc.apply(at..at, &digits);
        let found = analysis.update(&doc, 0, &CATALOG);
        assert_eq!(found, fresh(&doc, &CATALOG));
        // `input=n` names no cell while `n` is `n<digits>`.
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, "unknown-input");
        doc.apply(at..at + digits.len(), "");
    }
    assert_eq!(analysis.update(&doc, 0, &CATALOG), []);
}

#[test]
fn a_duplicate_name_moves_to_the_lower_cell_when_the_upper_is_renamed() {
    let mut doc = Document::new("@plugin=jq name=a\n.\n@plugin=jq name=a\n.\n");
    let mut analysis = HeaderAnalysis::default();
    let found = analysis.update(&doc, 0, &CATALOG);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, "duplicate-name");
    assert_eq!(found[0].range, 36..37);
    // Renaming the first cell ends the duplicate.
    doc.apply(16..17, "b");
    assert_eq!(analysis.update(&doc, 0, &CATALOG), []);
    // Naming it back brings it back, on the second cell again.
    doc.apply(16..17, "a");
    let found = analysis.update(&doc, 0, &CATALOG);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].range, 36..37);
}

#[test]
fn matching_ends_never_count_an_item_twice() {
    use databook_notebook::matching_ends;
    assert_eq!(matching_ends(&[1, 2, 3, 4], &[1, 9, 3, 4]), (1, 2));
    assert_eq!(matching_ends(&[1, 2, 3], &[1, 2, 3]), (3, 0));
    // Typing a cell in between: what follows it still matches.
    assert_eq!(matching_ends(&[1, 2], &[1, 5, 2]), (1, 1));
    // The same items at both ends: the start takes them first.
    assert_eq!(matching_ends(&[7, 7], &[7]), (1, 0));
    assert_eq!(matching_ends::<u8>(&[], &[1]), (0, 0));
}
