//! The layering of `shared`, checked from its source: imports run one way (no module imports,
//! directly or through others, a module that imports it), and the layers that must not speak
//! HTTP or Lambda (the domain, the key design, passwords, the store, the mailer) name no web or
//! Lambda type. docs/ARCHITECTURE.md draws the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read shared/src")
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// `domain/team/mod.rs` → `domain::team`; `domain/tx.rs` → `domain::tx`; `lib.rs` → ``.
fn module_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("under shared/src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts.join("::")
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path the code names (`crate::a::b`, `super::c`, `self::d`), resolved against
/// `module`, the file's own module.
fn named_paths(code: &str, module: &str) -> Vec<Vec<String>> {
    let here: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let mut paths = Vec::new();
    let tokens: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.contains("::"))
        .collect();
    for token in tokens {
        let segments: Vec<&str> = token.split("::").filter(|s| !s.is_empty()).collect();
        let Some(first) = segments.first() else {
            continue;
        };
        let mut base: Vec<String> = match *first {
            "crate" => Vec::new(),
            "super" => {
                let mut base = here.clone();
                base.pop();
                base
            }
            "self" => here.clone(),
            _ => continue,
        };
        let mut rest = segments[1..].iter();
        // `super::super::x`
        for segment in rest.by_ref() {
            if *segment == "super" {
                base.pop();
            } else {
                base.push((*segment).to_owned());
                break;
            }
        }
        base.extend(rest.map(|s| (*s).to_owned()));
        paths.push(base);
    }
    // `use crate::x::{a, b::c}`: the braces' members.
    for (start, _) in code.match_indices("::{") {
        let head_start = code[..start]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |at| at + 1);
        let head = &code[head_start..start];
        let Some(close) = code[start..].find('}') else {
            continue;
        };
        let inner = &code[start + 3..start + close];
        for member in inner.split(',') {
            let member = member.split_whitespace().next().unwrap_or("");
            if member.is_empty() || member == "self" {
                continue;
            }
            let joined = format!("{head}::{member}");
            paths.extend(named_paths(&joined, module));
        }
    }
    paths
}

/// The module graph of `shared`: who imports whom (declaring `pub mod x` is not importing it;
/// `pub use x::…` is).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&root, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&root, file);
        let text = std::fs::read_to_string(file).expect("read a source file");
        let edges = graph.entry(module.clone()).or_default();
        for path in named_paths(&code(&text), &module) {
            // The longest prefix that is a module of ours.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|candidate| modules.contains(candidate));
            let Some(target) = target else { continue };
            if target != module && !target.is_empty() {
                edges.insert(target);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any (depth-first search).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if let Some(cycle) = walk(graph, start, next, path, seen) {
                    return Some(cycle);
                }
                path.pop();
            }
        }
        None
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new())
}

#[test]
fn imports_run_one_way() {
    let graph = import_graph();
    assert!(graph.len() > 30, "the graph covers shared's modules");
    // The checker sees real edges (a broken parser would find no cycle by finding no edge).
    assert!(graph["domain::tokens"].contains("domain::credentials"));
    assert!(graph["http::team"].contains("domain::team"));
    assert!(graph["domain::usage::report"].contains("domain::usage"));
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|module| cycle_from(&graph, module))
        .map(|cycle| cycle.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import loops:\n{}", cycles.join("\n"));
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut graph = import_graph();
    graph
        .entry("domain::credentials".into())
        .or_default()
        .insert("domain::tokens".into());
    assert!(cycle_from(&graph, "domain::tokens").is_some());
}

#[test]
fn lower_layers_name_no_web_or_lambda_type() {
    let root = source_root();
    let mut files = Vec::new();
    for lower in ["domain", "store", "mail"] {
        rust_files(&root.join(lower), &mut files);
    }
    for leaf in [
        "keys.rs",
        "password.rs",
        "mail.rs",
        "refusal.rs",
        "catalogue.rs",
        "email.rs",
        "config.rs",
    ] {
        files.push(root.join(leaf));
    }
    let forbidden = [
        "axum",
        "http::",
        "crate::http",
        "lambda_",
        "tower",
        "StatusCode",
    ];
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (number, line) in code(&text).lines().enumerate() {
            for name in forbidden {
                if line.contains(name) {
                    found.push(format!("{}:{}: {name}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(files.len() > 20);
    assert!(
        found.is_empty(),
        "web or Lambda names below http/:\n{}",
        found.join("\n")
    );
}

#[test]
fn source_files_are_rooms_of_one_concern() {
    let root = source_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).expect("read").lines().count();
            (lines > 450).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over ~400 lines:\n{}",
        long.join("\n")
    );
}
