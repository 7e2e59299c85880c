#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! No import cycle among the modules of one directory of the crate.
//!
//! [`module_graph`] reads every file of a directory (`src/store`) and records
//! which sibling modules each one names, as `super::x` (or `super::{x, …}`)
//! or `crate::store::x`, in `use` lines and in code alike (macro bodies
//! included). Comments and string literals are not code: the files are split
//! into Rust tokens (proc-macro2) before the scan. `mod.rs`, the parent, is
//! no node: its children use it and it declares them. `self.method()` calls
//! between `impl` blocks in different files are invisible here; they are
//! kept out of the bottom modules by review, not by this test.
//!
//! [`find_cycle`] reports one cycle of the graph as its path, `a -> b -> a`.
//! [`assert_no_module_cycle`] puts the two together for a test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// Module name → the sibling modules it refers to.
pub type ModuleGraph = BTreeMap<String, BTreeSet<String>>;

/// Fails the test with the cycle's path if the modules of `dir` (relative to
/// the crate root, e.g. `"src/store"`), whose crate path is `crate_path`
/// (`"store"`, or `"flows::management"` for a nested one), refer to each
/// other in a cycle.
pub fn assert_no_module_cycle(dir: &str, crate_path: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let graph = module_graph(&root, crate_path);
    assert!(
        graph.len() > 1,
        "{dir}: expected several modules, found {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle among the modules of {dir}: {}\nwhole graph: {graph:#?}",
            cycle.join(" -> ")
        );
    }
}

/// The references among the sibling modules of `dir`: each `x.rs` and each
/// `x/` holding a `mod.rs` is one module (the files under `x/` count as `x`).
pub fn module_graph(dir: &Path, crate_path: &str) -> ModuleGraph {
    let mut modules: BTreeMap<String, Vec<(PathBuf, usize)>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {dir:?}: {e}")) {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && path.join("mod.rs").is_file() {
            let mut files = Vec::new();
            rust_files(&path, 0, &mut files);
            modules.insert(stem, files);
        } else if path.extension().is_some_and(|e| e == "rs") && stem != "mod" {
            modules.insert(stem, vec![(path, 0)]);
        }
    }
    let siblings: BTreeSet<String> = modules.keys().cloned().collect();
    let crate_segments: Vec<&str> = crate_path.split("::").collect();
    modules
        .iter()
        .map(|(name, files)| {
            let mut refs = BTreeSet::new();
            for (file, depth) in files {
                let source = std::fs::read_to_string(file).unwrap();
                let tokens = TokenStream::from_str(&source)
                    .unwrap_or_else(|e| panic!("tokenizing {file:?}: {e:?}"));
                let scan = Scan {
                    depth: *depth,
                    crate_segments: &crate_segments,
                };
                scan.refs(&lex(tokens), &mut refs);
            }
            refs.retain(|r| r != name && siblings.contains(r));
            (name.clone(), refs)
        })
        .collect()
}

/// The `.rs` files under a directory module, with how many modules deep each
/// sits below it (`x/mod.rs` 0, `x/y.rs` 1, `x/y/z.rs` 2).
fn rust_files(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, usize)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, depth + 1, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let own = usize::from(path.file_stem().is_none_or(|s| s != "mod"));
            out.push((path, depth + own));
        }
    }
}

/// One cycle of `graph` as its path (first node repeated at the end), or
/// `None` if it has none.
pub fn find_cycle(graph: &ModuleGraph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit<'g>(
        node: &'g str,
        graph: &'g ModuleGraph,
        marks: &mut BTreeMap<&'g str, Mark>,
        path: &mut Vec<&'g str>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::OnPath) => {
                let start = path.iter().position(|n| *n == node).unwrap();
                let mut cycle: Vec<String> =
                    path[start..].iter().map(|n| (*n).to_owned()).collect();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::OnPath);
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

/// The tokens that matter for paths.
#[derive(Debug)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Comma,
    Group(Delimiter, Vec<Tok>),
    Other,
}

fn lex(stream: TokenStream) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut trees = stream.into_iter().peekable();
    while let Some(tree) = trees.next() {
        out.push(match tree {
            TokenTree::Ident(ident) => Tok::Ident(ident.to_string()),
            TokenTree::Group(group) => Tok::Group(group.delimiter(), lex(group.stream())),
            TokenTree::Punct(p) if p.as_char() == ',' => Tok::Comma,
            TokenTree::Punct(p)
                if p.as_char() == ':'
                    && p.spacing() == Spacing::Joint
                    && matches!(trees.peek(), Some(TokenTree::Punct(q)) if q.as_char() == ':') =>
            {
                trees.next();
                Tok::PathSep
            }
            _ => Tok::Other,
        });
    }
    out
}

struct Scan<'a> {
    /// How many modules below the sibling level the file sits.
    depth: usize,
    crate_segments: &'a [&'a str],
}

impl Scan<'_> {
    /// Adds to `refs` the first segment after every path prefix that leads
    /// to the sibling level: `super::` (depth + 1 times) or
    /// `crate::<crate_path>::`.
    fn refs(&self, tokens: &[Tok], refs: &mut BTreeSet<String>) {
        for (i, tok) in tokens.iter().enumerate() {
            let after_sep = i > 0 && matches!(tokens[i - 1], Tok::PathSep);
            let target = match tok {
                Tok::Group(_, inner) => {
                    self.refs(inner, refs);
                    None
                }
                Tok::Ident(word) if word == "super" && !after_sep => self.after_supers(tokens, i),
                Tok::Ident(word) if word == "crate" && !after_sep => self.after_crate(tokens, i),
                _ => None,
            };
            match target {
                Some(Tok::Ident(name)) => {
                    refs.insert(name.clone());
                }
                Some(Tok::Group(Delimiter::Brace, items)) => {
                    // `{a::X, b, self}`: the first segment of each item.
                    let mut at_item_start = true;
                    for item in items {
                        match item {
                            Tok::Comma => at_item_start = true,
                            Tok::Ident(name) if at_item_start => {
                                refs.insert(name.clone());
                                at_item_start = false;
                            }
                            _ => at_item_start = false,
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// `super :: super :: x`: `x` if the `super`s starting at `i` climb
    /// exactly to the sibling level.
    fn after_supers<'t>(&self, tokens: &'t [Tok], mut i: usize) -> Option<&'t Tok> {
        let mut climbed = 0;
        while matches!(&tokens.get(i), Some(Tok::Ident(w)) if w == "super")
            && matches!(tokens.get(i + 1), Some(Tok::PathSep))
        {
            climbed += 1;
            i += 2;
        }
        (climbed == self.depth + 1).then(|| tokens.get(i)).flatten()
    }

    /// `crate :: store :: x`: `x`.
    fn after_crate<'t>(&self, tokens: &'t [Tok], i: usize) -> Option<&'t Tok> {
        let mut j = i + 1;
        for segment in self.crate_segments {
            match (tokens.get(j), tokens.get(j + 1)) {
                (Some(Tok::PathSep), Some(Tok::Ident(w))) if w == segment => j += 2,
                _ => return None,
            }
        }
        match tokens.get(j) {
            Some(Tok::PathSep) => tokens.get(j + 1),
            _ => None,
        }
    }
}

#[test]
fn the_store_modules_have_no_cycle() {
    assert_no_module_cycle("src/store", "store");
}

#[test]
fn the_flow_modules_have_no_cycle() {
    assert_no_module_cycle("src/flows", "flows");
}

#[test]
fn the_revoked_token_list_is_at_the_bottom_of_the_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let graph = module_graph(&root, "store");
    assert_eq!(graph["revocation"], BTreeSet::new(), "{graph:#?}");
    for user in ["codes", "refresh_grants"] {
        assert!(graph[user].contains("revocation"), "{user}: {graph:#?}");
    }
}

/// The finder and the scanner on small made-up inputs.
mod finder {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> ModuleGraph {
        let mut graph = ModuleGraph::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    }

    #[test]
    fn finds_a_cycle_with_its_path() {
        let g = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
        let g = graph(&[("x", "y"), ("y", "x")]);
        assert_eq!(find_cycle(&g).unwrap(), ["x", "y", "x"]);
    }

    #[test]
    fn a_layered_graph_has_none() {
        let g = graph(&[("a", "b"), ("a", "c"), ("b", "c"), ("d", "a"), ("d", "c")]);
        assert_eq!(find_cycle(&g), None);
    }

    #[test]
    fn reads_use_lines_paths_and_groups_but_not_comments_or_strings() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("mod.rs", "mod a; mod b; mod c; mod d; mod e; use a::X;");
        write(
            "a.rs",
            "use super::{b::Thing, Store};\n\
             // super::d::nothing\n\
             fn f() { let _ = \"crate::store::d\"; crate::store::c::g(); }",
        );
        write("b.rs", "fn f() { format!(\"{}\", super::c::NAME); }");
        write(
            "c.rs",
            "use super::{Store, StoreError};\nuse crate::other::a;",
        );
        write("d.rs", "use crate::store::{self as s, e::Y};");
        write("e/mod.rs", "mod inner; use super::super::a;");
        write("e/inner.rs", "use super::Z; use super::super::d::W;");
        let g = module_graph(dir.path(), "store");
        let names = |list: &[&str]| {
            list.iter()
                .map(|s| (*s).to_owned())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(g["a"], names(&["b", "c"]));
        assert_eq!(g["b"], names(&["c"]));
        assert_eq!(g["c"], names(&[]));
        assert_eq!(g["d"], names(&["e"]));
        assert_eq!(g["e"], names(&["d"]));
        assert_eq!(find_cycle(&g).unwrap(), ["d", "e", "d"]);
    }
}
