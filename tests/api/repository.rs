//! The repository is self-contained: what the code relies on lives in the project, so a
//! newcomer with only the repository has it.

use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every text file the project holds: its top-level files and what its folders hold.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut queue: Vec<PathBuf> = [
        "api",
        "domain",
        "persistence",
        "tests",
        "migrations",
        "docs",
        ".ci",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    for top in ["README.md", "Makefile", "Cargo.toml", "openapi.yaml"] {
        found.push(root.join(top));
    }
    while let Some(dir) = queue.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    queue.push(path);
                }
            } else if std::fs::read_to_string(&path).is_ok() {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn sources_cite_only_documents_the_repository_holds() {
    let root = root();
    // Built so this file does not match itself.
    let outside = ["shared", "/"].concat();
    let mut cited = 0;
    for path in files(&root) {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        assert!(
            !text.contains(&format!("`{outside}")) && !text.contains(&format!("../{outside}")),
            "{name} cites a document outside the repository"
        );
        // Every document under docs/ that is named exists.
        let mut rest = text.as_str();
        while let Some(at) = rest.find("`docs/") {
            let tail = &rest[at + 1..];
            let end = tail.find('`').unwrap_or(tail.len());
            let doc = &tail[..end];
            if doc.ends_with(".md") {
                assert!(
                    root.join(doc).is_file(),
                    "{name} cites {doc}, which is missing"
                );
                cited += 1;
            }
            rest = &tail[end..];
        }
    }
    assert!(
        cited >= 5,
        "the domain's tables cite docs/domain.md ({cited} citations)"
    );
}
