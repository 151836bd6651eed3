mod common;

use std::fmt::Write;

use databook_notebook::{
    Catalog, CompletionContext, PluginInfo, analyze, completion_context, folding, parse, run_order,
    semantic_tokens, symbols,
};

/// The plugins the fixtures know: prometheus and http with options, jq with
/// none, and `broken`, which failed to load.
struct TestCatalog;

impl Catalog for TestCatalog {
    fn lookup(&self, name: &str) -> PluginInfo {
        let options = |o: &[&str]| PluginInfo::Known {
            options: o.iter().map(|s| s.to_string()).collect(),
        };
        match name {
            "prometheus" => options(&["range", "step", "instant"]),
            "http" => options(&["headers"]),
            "jq" => options(&[]),
            "postgres" => options(&["database"]),
            "broken" => PluginInfo::Failed {
                reason: "plugins/broken/config.toml:3: unknown key `colour`".to_owned(),
            },
            _ => PluginInfo::Unknown,
        }
    }

    fn names(&self) -> Vec<String> {
        ["prometheus", "http", "jq", "postgres", "broken"]
            .map(String::from)
            .to_vec()
    }
}

fn dump_analysis(text: &str) -> String {
    let p = parse(text);
    // The 0-based line an offset is in.
    let line_of = |offset: usize| text[..offset].matches('\n').count();
    let t = |r: &std::ops::Range<usize>| text[r.clone()].to_owned();
    let mut out = String::new();
    writeln!(out, "diagnostics").unwrap();
    for d in analyze(&p, text, &TestCatalog) {
        writeln!(
            out,
            "  {:?} {} {:?} {:?}: {}",
            d.severity,
            d.code,
            d.range,
            t(&d.range),
            d.message
        )
        .unwrap();
        for f in d.fixes {
            writeln!(
                out,
                "    fix {:?}: {:?} -> {:?}",
                f.title, f.edit.range, f.edit.new_text
            )
            .unwrap();
        }
    }
    let all: Vec<usize> = (0..p.cells.len()).collect();
    writeln!(out, "run order {:?}", run_order(&p, text, &all)).unwrap();
    writeln!(out, "symbols").unwrap();
    for s in symbols(&p, text) {
        writeln!(
            out,
            "  {} {:?} detail {:?} range {:?} select {:?}",
            s.cell,
            s.name,
            s.detail,
            s.range,
            t(&s.selection_range)
        )
        .unwrap();
    }
    writeln!(out, "folding").unwrap();
    for f in folding(&p) {
        writeln!(
            out,
            "  {:?} lines {}..={}",
            f.kind,
            line_of(f.start),
            line_of(f.end)
        )
        .unwrap();
    }
    writeln!(out, "tokens").unwrap();
    for tok in semantic_tokens(&p, text) {
        writeln!(out, "  {:?} {:?}", tok.kind, t(&tok.range)).unwrap();
    }
    out
}

#[test]
fn analysis_fixtures() {
    common::check_dir("analyze", dump_analysis);
}

/// Each section of a completion fixture (sections are separated by lines
/// `-----`) holds one `$0`, the cursor.
fn dump_completion(fixture: &str) -> String {
    let mut out = String::new();
    for section in fixture.split("-----\n") {
        let offset = section.find("$0").expect("a $0 in every section");
        let text = section.replacen("$0", "", 1);
        let p = parse(&text);
        let context = completion_context(&p, &text, offset);
        let shown = match &context {
            CompletionContext::PluginName { range_typed: r }
            | CompletionContext::Directive { range: r }
            | CompletionContext::OptionKey { range: r, .. }
            | CompletionContext::InputName { range: r, .. } => {
                format!("{context:?} typed {:?}", &text[r.clone()])
            }
            CompletionContext::Body {
                cell,
                offset_in_body,
            } => {
                let body = &p.cells[*cell].body;
                let upto = &text[body.start..(body.start + offset_in_body).min(text.len())];
                format!("{context:?} before cursor {upto:?}")
            }
            CompletionContext::None => "None".to_owned(),
        };
        let first_line = section.lines().find(|l| l.contains("$0")).unwrap_or("");
        writeln!(out, "{first_line}\n  => {shown}").unwrap();
    }
    out
}

#[test]
fn completion_fixtures() {
    common::check_dir("completion", dump_completion);
}

#[test]
fn run_order_puts_inputs_first_and_reports_cycles() {
    let text = "@plugin=jq name=c input=b\n.\n@plugin=jq name=a\n.\n@plugin=jq name=b input=a\n.\n@plugin=jq input=nowhere\n.\n";
    let p = parse(text);
    assert_eq!(run_order(&p, text, &[0]), Ok(vec![1, 2, 0]));
    assert_eq!(run_order(&p, text, &[2, 0, 3]), Ok(vec![1, 2, 0, 3]));
    assert_eq!(run_order(&p, text, &[0, 1, 2, 3]), Ok(vec![1, 2, 0, 3]));
    assert_eq!(run_order(&p, text, &[9]), Ok(vec![]));
    let cyclic = "@plugin=jq name=x input=z\n.\n@plugin=jq name=y input=x\n.\n@plugin=jq name=z input=y\n.\n@plugin=jq name=w\n.\n";
    let p = parse(cyclic);
    assert_eq!(run_order(&p, cyclic, &[3]), Ok(vec![3]));
    let mut cycle = run_order(&p, cyclic, &[1]).unwrap_err();
    cycle.sort();
    assert_eq!(cycle, [0, 1, 2]);
}

#[test]
fn dependents_are_the_cells_whose_inputs_lead_to_a_cell() {
    use databook_notebook::references;
    // c takes b, b takes a (below it), d takes c; e stands alone.
    let text = "@plugin=jq name=c input=b\n.\n@plugin=jq name=a\n.\n@plugin=jq name=b input=a\n.\n@plugin=jq name=d input=c\n.\n@plugin=jq name=e\n.\n";
    let p = parse(text);
    let refs = references(&p, text);
    assert_eq!(
        refs.with_dependents(&[1]),
        [0, 1, 2, 3],
        "a, and all that take it"
    );
    assert_eq!(refs.with_dependents(&[0]), [0, 3]);
    assert_eq!(refs.with_dependents(&[3]), [3]);
    assert_eq!(refs.with_dependents(&[4]), [4]);
    assert!(refs.has_dependents(1) && refs.has_dependents(0) && !refs.has_dependents(3));
    // In run order, each after its input.
    assert_eq!(
        refs.run_order(&refs.with_dependents(&[1])),
        Ok(vec![1, 2, 0, 3])
    );
    // A cycle that holds no target is no dependent of it.
    let cyclic =
        "@plugin=jq name=x input=y\n.\n@plugin=jq name=y input=x\n.\n@plugin=jq name=w\n.\n";
    let refs = references(&parse(cyclic), cyclic);
    assert_eq!(refs.with_dependents(&[2]), [2]);
    assert_eq!(refs.with_dependents(&[0]), [0, 1]);
}

#[test]
fn values_taken_from_cells_make_them_inputs() {
    use databook_notebook::references;
    // `request` takes `login`'s token and `users`' first id; `users` takes
    // `login` through `input=`; `report` takes `request`.
    let text = "@plugin=http name=request\nGET http://h/{{users.items[0].id}}\nAuthorization: {{ login.token }}\n\n@plugin=http name=login\nPOST http://h/login\n\n@plugin=jq name=users input=login\n.\n@plugin=jq name=report\n{{request.status}} {{HOST}}\n";
    let p = parse(text);
    let refs = references(&p, text);
    assert!(refs.problems.is_empty(), "{:?}", refs.problems);
    assert_eq!(refs.takes(0), [2, 1], "in the order they are referred to");
    assert_eq!(refs.takes(2), [1]);
    assert_eq!(refs.cell_named("login"), Some(1));
    assert_eq!(refs.run_order(&[3]), Ok(vec![1, 2, 0, 3]));
    assert_eq!(refs.with_dependents(&[1]), [0, 1, 2, 3]);
    assert_eq!(refs.with_dependents(&[2]), [0, 2, 3]);
    assert!(refs.has_dependents(0) && !refs.has_dependents(3));

    // A value from a cell that takes this one's is a cycle, named where
    // each reference is; a cell that does not exist is named too.
    let cyclic = "@plugin=http name=a\nGET {{b.x}}\n@plugin=jq name=b input=a\n.\n@plugin=jq name=c\n{{nobody.x}} {{c.me}}\n";
    let p = parse(cyclic);
    let refs = references(&p, cyclic);
    let found: Vec<(&str, &str, String)> = refs
        .problems
        .iter()
        .map(|d| (d.code, &cyclic[d.range.clone()], d.message.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "input-cycle",
                "b",
                "inputs make a cycle: a → b → a".to_string()
            ),
            (
                "input-cycle",
                "a",
                "inputs make a cycle: a → b → a".to_string()
            ),
            (
                "unknown-cell",
                "nobody",
                "no cell is named `nobody`".to_string()
            ),
            ("input-cycle", "c", "inputs make a cycle: c → c".to_string()),
        ]
    );
    let mut cycle = refs.run_order(&[1]).unwrap_err();
    cycle.sort();
    assert_eq!(cycle, [0, 1]);
}

#[test]
fn databook_options_are_read_once_typed() {
    use databook_notebook::{CheckMode, parse};
    use std::time::Duration;
    let text = "@plugin=echo name=x input=y timeout=1h check=status range=5m\nbody\n";
    let p = parse(text);
    let own = p.cells[0].options();
    assert_eq!(p.cells[0].name(), Some("x"));
    assert_eq!(p.cells[0].input(), Some("y"));
    assert_eq!(p.cells[0].timeout(), Some(Duration::from_secs(3600)));
    assert_eq!(own.check, CheckMode::Status);
    assert!(own.problems().is_empty(), "{:?}", own.problems());
    assert_eq!(
        p.cells[0].plugin_options(),
        [("range".to_string(), "5m".to_string())]
    );
    for (header, code) in [
        ("timeout=10", "bad-timeout"),
        ("timeout=1.5s", "bad-timeout"),
        ("timeout=0s", "bad-timeout"),
        ("timeout=99999999999999999999h", "bad-timeout"),
        ("check=maybe", "bad-check"),
        ("name=1x", "bad-name"),
    ] {
        let text = format!("@plugin=echo {header}\nbody\n");
        let p = parse(&text);
        let problems = p.cells[0].options().problems();
        let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, [code], "{header}");
        let value = header.split_once('=').unwrap().1;
        assert_eq!(&text[problems[0].range.clone()], value);
    }
}
