//! The published crates' source files import each other one way only: no file uses, directly or
//! through others, a file that uses it. `docs/architecture.md` draws the arrows this checks.
//!
//! The check reads the sources as text. Every path a file names (`use crate::a::B`,
//! `super::c::D`, `crate::e::f(..)` inline, `use` trees with braces) is resolved to the file that
//! defines the item, following `use` re-exports through module files; a module file's
//! `pub use child::Item` (the public face of its folder) is not itself an arrow. Comments, string
//! literals and `#[cfg(test)]` modules are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One source file: its module path and its code with comments, strings and test modules removed.
struct File {
    rel: String,
    module: Vec<String>,
    code: String,
    /// Is it `lib.rs` or a folder's `mod.rs` (its module's public face)?
    is_module_root: bool,
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<File>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !matches!(
                path.file_stem().and_then(|s| s.to_str()),
                Some("tests" | "loom")
            )
        {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mut module: Vec<String> = rel
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            let last = module.last().unwrap().clone();
            let is_module_root = last == "mod" || (last == "lib" && module.len() == 1);
            if is_module_root {
                module.pop();
            }
            let code = strip_test_modules(&strip_comments_and_strings(
                &fs::read_to_string(&path).unwrap(),
            ));
            out.push(File {
                rel,
                module,
                code,
                is_module_root,
            });
        }
    }
}

/// Replaces comments, string and char literals by spaces (keeping the braces of code intact).
fn strip_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == b'#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push(' ');
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == b'\'' {
            // A char literal ('x', '\n', '{') or a lifetime ('a): a literal closes within 4 bytes
            // or starts with a backslash.
            if b.get(i + 1) == Some(&b'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                i = j + 1;
                out.push(' ');
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
                out.push(' ');
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            // Multi-byte characters outside strings and comments are copied byte by byte.
            let ch_len = src[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&src[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

/// Removes `#[cfg(test)]`-style modules (`mod tests`, and any module behind a `cfg` naming
/// `test`) with their bodies.
fn strip_test_modules(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(") {
        let attr_end = at + rest[at..].find(']').unwrap_or(0);
        let attr = &rest[at..=attr_end];
        let after = rest[attr_end + 1..].trim_start();
        let is_test_mod = attr.contains("test")
            && !attr.contains("not(test")
            && (after.starts_with("mod ") || after.starts_with("pub(crate) mod "));
        if !is_test_mod {
            out.push_str(&rest[..=attr_end]);
            rest = &rest[attr_end + 1..];
            continue;
        }
        out.push_str(&rest[..at]);
        let open = attr_end + 1 + rest[attr_end + 1..].find(['{', ';']).unwrap();
        if rest.as_bytes()[open] == b';' {
            rest = &rest[open + 1..];
            continue;
        }
        let mut depth = 0;
        let mut end = open;
        for (k, ch) in rest[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Expands a `use` tree (`a::{b, c::{d, e as f}}`) into its paths.
fn expand_use_tree(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = join(prefix, head);
        let mut depth = 0;
        let mut start = 0;
        for (k, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use_tree(&inner[start..k], &base, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand_use_tree(&inner[start..], &base, out);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap().trim();
        out.push(join(prefix, path));
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}::{path}"),
    }
}

/// A `use` declaration: its paths, and whether it is `pub`-something.
struct UseDecl {
    paths: Vec<String>,
    public: bool,
    /// Where the declaration sits in the code (from `use` to its `;`).
    span: std::ops::Range<usize>,
}

fn use_decls(code: &str) -> Vec<UseDecl> {
    let mut decls = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while let Some(at) = code[i..].find("use ") {
        let at = i + at;
        i = at + 4;
        if at > 0 && is_ident_byte(b[at - 1]) {
            continue;
        }
        let line_start = code[..at].rfind(['\n', ';', '{', '}']).map_or(0, |p| p + 1);
        let lead = code[line_start..at].trim();
        let lead = lead.rsplit(']').next().unwrap().trim();
        if !(lead.is_empty() || lead.starts_with("pub")) {
            continue;
        }
        let end = at + code[at..].find(';').unwrap();
        let mut paths = Vec::new();
        expand_use_tree(&code[at + 4..end], "", &mut paths);
        decls.push(UseDecl {
            paths,
            public: lead.starts_with("pub"),
            span: at..end,
        });
        i = end;
    }
    decls
}

/// Paths written inline in code: `crate::a::b`, `super::c`, `self::d`.
fn inline_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    for head in ["crate::", "super::", "self::"] {
        let mut i = 0;
        while let Some(at) = code[i..].find(head) {
            let at = i + at;
            i = at + head.len();
            if at > 0 && (is_ident_byte(b[at - 1]) || b[at - 1] == b':' || b[at - 1] == b'$') {
                continue;
            }
            let mut end = at;
            while end < b.len() && (is_ident_byte(b[end]) || b[end] == b':') {
                end += 1;
            }
            let path = code[at..end].trim_end_matches(':');
            if !path.ends_with("::") {
                out.push(path.to_owned());
            }
        }
    }
    out
}

struct Crate {
    files: Vec<File>,
    by_module: BTreeMap<Vec<String>, usize>,
}

impl Crate {
    fn load(src: &Path) -> Crate {
        let mut files = Vec::new();
        collect(src, src, &mut files);
        let by_module = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.module.clone(), i))
            .collect();
        Crate { files, by_module }
    }

    /// The absolute segments of `path` as written in file `from` (`crate::`, `super::`,
    /// `self::`, or a child module of `from`); `None` for another crate's path.
    fn absolute(&self, from: usize, path: &str) -> Option<Vec<String>> {
        let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut base: Vec<String> = self.files[from].module.clone();
        match segs.first().copied() {
            Some("crate") => {
                base.clear();
                segs.remove(0);
            }
            Some("super") | Some("self") => {
                while let Some(&s) = segs.first() {
                    match s {
                        "super" => {
                            base.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    segs.remove(0);
                }
            }
            Some(first) => {
                // A child module of this file (`use tree::Node` in a folder's mod.rs).
                let mut child = base.clone();
                child.push(first.to_owned());
                if !self.by_module.contains_key(&child) {
                    return None;
                }
            }
            None => return None,
        }
        base.extend(segs.iter().map(|s| (*s).to_owned()));
        Some(base)
    }

    /// The file that defines the item at `abs`, following `use` re-exports of module files.
    fn resolve(&self, abs: &[String], depth: u32) -> Option<usize> {
        let mut cut = abs.len();
        while cut > 0 && !self.by_module.contains_key(&abs[..cut]) {
            cut -= 1;
        }
        let file = *self.by_module.get(&abs[..cut])?;
        let Some(name) = abs.get(cut) else {
            return Some(file);
        };
        if depth < 8 && !defines(&self.files[file].code, name) {
            for decl in use_decls(&self.files[file].code) {
                for p in &decl.paths {
                    let last = p.rsplit("::").next().unwrap();
                    let alias = p.split(" as ").nth(1).unwrap_or(last);
                    if alias == name || last == "*" {
                        if let Some(target) = self.absolute(file, p) {
                            let mut target = if last == "*" {
                                let mut t = target;
                                t.pop();
                                t.push(name.clone());
                                t
                            } else {
                                target
                            };
                            target.extend(abs[cut + 1..].iter().cloned());
                            if let Some(f) = self.resolve(&target, depth + 1) {
                                if last != "*" || f != file {
                                    return Some(f);
                                }
                            }
                        }
                    }
                }
            }
        }
        Some(file)
    }

    fn edges(&self) -> BTreeMap<usize, BTreeSet<usize>> {
        let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for (i, f) in self.files.iter().enumerate() {
            let decls = use_decls(&f.code);
            // Paths written in code, outside `use` declarations (those are read below).
            let mut code = f.code.clone();
            for d in &decls {
                code.replace_range(d.span.clone(), &" ".repeat(d.span.len()));
            }
            let mut paths = inline_paths(&code);
            for decl in decls {
                if decl.public && f.is_module_root {
                    // The folder's public face re-exports its children; not an arrow of its own.
                    continue;
                }
                paths.extend(decl.paths);
            }
            for p in paths {
                let Some(abs) = self.absolute(i, &p) else {
                    continue;
                };
                if let Some(t) = self.resolve(&abs, 0) {
                    if t != i {
                        edges.entry(i).or_default().insert(t);
                    }
                }
            }
        }
        edges
    }
}

fn defines(code: &str, name: &str) -> bool {
    [
        "struct ",
        "enum ",
        "trait ",
        "fn ",
        "type ",
        "const ",
        "static ",
        "union ",
        "mod ",
        "macro_rules! ",
    ]
    .iter()
    .any(|kw| {
        let pat = format!("{kw}{name}");
        code.match_indices(&pat).any(|(at, _)| {
            let after = code.as_bytes().get(at + pat.len()).copied().unwrap_or(b' ');
            let before = if at == 0 {
                b' '
            } else {
                code.as_bytes()[at - 1]
            };
            !is_ident_byte(after) && !is_ident_byte(before)
        })
    })
}

/// The cycles of the graph: each strongly connected set of more than one file.
fn cycles(n: usize, edges: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    // Tarjan's algorithm, iterative.
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    let empty = BTreeSet::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>)> = Vec::new();
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        work.push((
            root,
            edges.get(&root).unwrap_or(&empty).iter().copied().collect(),
        ));
        while let Some((v, todo)) = work.last_mut() {
            let v = *v;
            if let Some(w) = todo.pop() {
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, edges.get(&w).unwrap_or(&empty).iter().copied().collect()));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some((parent, _)) = work.last() {
                    low[*parent] = low[*parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut scc = Vec::new();
                    loop {
                        let w = stack.pop().unwrap();
                        on_stack[w] = false;
                        scc.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if scc.len() > 1 {
                        out.push(scc);
                    }
                }
            }
        }
    }
    out
}

fn check(krate: &str) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(krate)
        .join("src");
    let c = Crate::load(&src);
    let edges = c.edges();
    cycles(c.files.len(), &edges)
        .into_iter()
        .map(|scc| {
            let mut names: Vec<&str> = scc.iter().map(|&i| c.files[i].rel.as_str()).collect();
            names.sort_unstable();
            let arrows: Vec<String> = scc
                .iter()
                .flat_map(|&a| {
                    let edges = &edges;
                    let c = &c;
                    let scc = &scc;
                    edges[&a]
                        .iter()
                        .filter(move |b| scc.contains(b))
                        .map(move |&b| format!("{} -> {}", c.files[a].rel, c.files[b].rel))
                })
                .collect();
            format!("{krate}: {} ({})", names.join(", "), arrows.join("; "))
        })
        .collect()
}

/// The one cycle left: the token's handle (`token/mod.rs`), its tree node (`tree.rs`) and the
/// node's waiter table (`waiters.rs`) are types that contain each other (a node holds its
/// waiters, a waiter entry holds a weak handle). It is listed here so that any other cycle, or
/// a change to this one, fails the test.
const KNOWN: &[&str] = &["steadfast: token/mod.rs, token/tree.rs, token/waiters.rs ("];

#[test]
fn steadfast_has_no_import_cycles() {
    let found: Vec<String> = check("steadfast")
        .into_iter()
        .filter(|c| !KNOWN.iter().any(|k| c.starts_with(k)))
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn steadfast_http_has_no_import_cycles() {
    let found = check("steadfast-http");
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn steadfast_redis_has_no_import_cycles() {
    let found = check("steadfast-redis");
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// The checker finds a cycle when there is one: two files that use each other, and three in a
/// ring through a folder's re-export.
#[test]
fn the_checker_sees_cycles() {
    let dir = std::env::temp_dir().join(format!("structure-check-{}", std::process::id()));
    let src = dir.join("src");
    fs::create_dir_all(src.join("ring")).unwrap();
    fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod ring;\nmod clean;\n",
    )
    .unwrap();
    fs::write(src.join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
    fs::write(src.join("b.rs"), "pub struct B(crate::a::A);\n").unwrap();
    fs::write(
        src.join("ring/mod.rs"),
        "mod x;\nmod y;\nmod z;\npub use x::X;\npub use y::Y;\npub use z::Z;\n",
    )
    .unwrap();
    fs::write(src.join("ring/x.rs"), "use super::Y;\npub struct X;\n").unwrap();
    fs::write(src.join("ring/y.rs"), "pub struct Y(super::Z);\n").unwrap();
    fs::write(
        src.join("ring/z.rs"),
        "// use super::Y; (a comment)\npub struct Z { s: &'static str }\nfn f() -> super::X { let _ = \"crate::a::A\"; todo!() }\n#[cfg(test)]\nmod tests { use crate::b::B; }\n",
    )
    .unwrap();
    fs::write(src.join("clean.rs"), "use crate::a::A;\n").unwrap();
    let c = Crate::load(&src);
    let edges = c.edges();
    let mut found: Vec<Vec<&str>> = cycles(c.files.len(), &edges)
        .into_iter()
        .map(|scc| {
            let mut v: Vec<&str> = scc.iter().map(|&i| c.files[i].rel.as_str()).collect();
            v.sort_unstable();
            v
        })
        .collect();
    found.sort();
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found,
        vec![
            vec!["a.rs", "b.rs"],
            vec!["ring/x.rs", "ring/y.rs", "ring/z.rs"]
        ]
    );
}

/// Prints the arrows between the top-level modules of each crate (`a -> b`: a file of `a` uses
/// a file of `b`), for keeping `docs/architecture.md` true:
/// `cargo test -p steadfast-integration --test structure -- --ignored --nocapture module_graph`.
#[test]
#[ignore = "prints the module graph; not a check"]
fn module_graph() {
    for krate in ["steadfast", "steadfast-http"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates")
            .join(krate)
            .join("src");
        let c = Crate::load(&src);
        let top = |i: usize| {
            c.files[i]
                .module
                .first()
                .cloned()
                .unwrap_or_else(|| "lib".to_owned())
        };
        let mut arrows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, tos) in c.edges() {
            for to in tos {
                if top(from) != top(to) {
                    arrows.entry(top(from)).or_default().insert(top(to));
                }
            }
        }
        println!("{krate}:");
        for (from, tos) in arrows {
            println!(
                "  {from} -> {}",
                tos.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
}
