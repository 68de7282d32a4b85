//! Does `.gitignore` keep secrets, keys, logs, databases and backups out of git?

/// A small `.gitignore` matcher: enough of git's rules for the checklist.
///
/// Supports comments, blank lines, negation (`!`), directory patterns
/// (`name/`), anchored patterns (containing `/`), and the `*`, `?` and `**`
/// wildcards. Later lines override earlier ones, as in git.
#[derive(Debug, Clone)]
pub struct GitIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    negated: bool,
    dir_only: bool,
    anchored: bool,
}

/// The sample paths each category must ignore, with the category's name.
pub const REQUIRED: &[(&str, &[&str])] = &[
    (
        "secrets",
        &[".env", ".env.production", "config/credentials.json"],
    ),
    ("keys", &["vault.key", "keys/operator.key", "server.pem"]),
    ("logs", &["logs/asta.txt", "asta.log"]),
    ("databases", &["trades.db", "orders.sqlite", "ticks.duckdb"]),
    ("backups", &["backups/vault.asta.sealed", "vault.asta.bak"]),
];

impl GitIgnore {
    /// Parses `.gitignore` text.
    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (negated, line) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let (dir_only, line) = match line.strip_suffix('/') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let anchored = line.contains('/');
                Rule {
                    pattern: line.trim_start_matches('/').to_owned(),
                    negated,
                    dir_only,
                    anchored,
                }
            })
            .collect();
        Self { rules }
    }

    /// Whether git would ignore the file at relative `path` (`/`-separated).
    pub fn is_ignored(&self, path: &str) -> bool {
        let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let mut ignored = false;
        for rule in &self.rules {
            if rule.matches(&components) {
                ignored = !rule.negated;
            }
        }
        ignored
    }

    /// The categories of [`REQUIRED`] with at least one sample not ignored,
    /// each with the samples that slipped through.
    pub fn missing(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        REQUIRED
            .iter()
            .filter_map(|(category, samples)| {
                let leaks: Vec<&str> = samples
                    .iter()
                    .copied()
                    .filter(|s| !self.is_ignored(s))
                    .collect();
                (!leaks.is_empty()).then_some((*category, leaks))
            })
            .collect()
    }
}

impl Rule {
    fn matches(&self, components: &[&str]) -> bool {
        let Some((_, parents)) = components.split_last() else {
            return false;
        };
        if self.anchored {
            // Match the pattern against every leading run of components: a
            // directory match ignores everything below it.
            let limit = if self.dir_only {
                parents.len()
            } else {
                components.len()
            };
            (1..=limit).any(|n| glob_path(&self.pattern, &components[..n].join("/")))
        } else {
            // Unanchored: matches any single component (a directory for
            // dir-only patterns, so never the file name itself).
            let candidates = if self.dir_only { parents } else { components };
            candidates.iter().any(|c| glob(&self.pattern, c))
        }
    }
}

/// `*` and `?` within one component.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some(pi);
                mark = ti;
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some(s) => {
                    pi = s + 1;
                    mark += 1;
                    ti = mark;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A `/`-separated glob where `**` spans directories.
fn glob_path(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let t: Vec<&str> = path.split('/').collect();
    glob_components(&p, &t)
}

fn glob_components(p: &[&str], t: &[&str]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((&"**", rest)) => (0..=t.len()).any(|skip| glob_components(rest, &t[skip..])),
        Some((first, rest)) => match t.split_first() {
            Some((head, tail)) => glob(first, head) && glob_components(rest, tail),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_gitignore_covers_everything() {
        let text = include_str!("../../../.gitignore");
        let ignore = GitIgnore::parse(text);
        assert!(ignore.missing().is_empty(), "{:?}", ignore.missing());
    }

    #[test]
    fn git_rules() {
        let ignore =
            GitIgnore::parse("*.log\n!keep.log\nkeys/\n/config/credentials.*\nbuild/**/out\n");
        assert!(ignore.is_ignored("a.log"));
        assert!(ignore.is_ignored("deep/dir/a.log"));
        assert!(!ignore.is_ignored("keep.log"));
        assert!(ignore.is_ignored("keys/a"));
        assert!(ignore.is_ignored("sub/keys/a"));
        assert!(
            !ignore.is_ignored("keys"),
            "a dir-only pattern does not match a file"
        );
        assert!(ignore.is_ignored("config/credentials.toml"));
        assert!(!ignore.is_ignored("sub/config/credentials.toml"));
        assert!(ignore.is_ignored("build/x/y/out"));
        assert!(ignore.is_ignored("build/out"));
        assert!(!ignore.is_ignored("a.logx"));
    }

    #[test]
    fn an_empty_gitignore_misses_every_category() {
        let missing = GitIgnore::parse("").missing();
        assert_eq!(missing.len(), REQUIRED.len());
    }

    #[test]
    fn a_partial_gitignore_names_what_is_missing() {
        let missing = GitIgnore::parse(
            ".env\n*.key\n*.pem\nkeys/\nlogs/\n*.log\n*.db\n*.sqlite\n*.duckdb\nbackups/\n*.bak\n",
        )
        .missing();
        assert_eq!(
            missing,
            vec![(
                "secrets",
                vec![".env.production", "config/credentials.json"]
            )]
        );
    }
}
