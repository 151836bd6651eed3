// Shared by the data-driven tests: every `*.dbk` file under a folder of
// `tests/data` is rendered by a function and compared with the `.txt` file of
// the same name (`UPDATE_EXPECT=1 cargo test` rewrites them).

use std::path::PathBuf;

pub fn check_dir(folder: &str, render: impl Fn(&str) -> String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dbk"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let actual = render(&text);
        expect_test::expect_file![path.with_extension("txt")].assert_eq(&actual);
    }
}
