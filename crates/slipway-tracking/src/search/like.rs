//! SQL `LIKE` / `ILIKE` matching, as MLflow's SQL store evaluates it.
//!
//! `%` matches any run of characters, `_` exactly one character, everything
//! else itself. There is no escape character (SQLAlchemy's `like()` emits no
//! `ESCAPE` clause, and SQLite, MLflow's default backend, has none by
//! default). `LIKE` is case-sensitive (MLflow sets `PRAGMA
//! case_sensitive_like`); `ILIKE` compares lowercased characters.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Any,
    One,
    Lit(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Like {
    parts: Vec<Part>,
    ignore_case: bool,
    /// The pattern has no wildcard: plain (case-folded) equality.
    exact: Option<String>,
}

/// Lowercases one character the way a case-insensitive comparison needs
/// (single-char lowercase mappings only; others compare as themselves).
fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

impl Like {
    pub fn new(pattern: &str, ignore_case: bool) -> Self {
        let mut parts: Vec<Part> = Vec::with_capacity(pattern.len());
        for c in pattern.chars() {
            let part = match c {
                '%' => Part::Any,
                '_' => Part::One,
                c => Part::Lit(if ignore_case { fold(c) } else { c }),
            };
            if part == Part::Any && parts.last() == Some(&Part::Any) {
                continue;
            }
            parts.push(part);
        }
        let exact = parts.iter().all(|p| matches!(p, Part::Lit(_))).then(|| {
            parts
                .iter()
                .map(|p| {
                    if let Part::Lit(c) = p {
                        *c
                    } else {
                        unreachable!()
                    }
                })
                .collect()
        });
        Like {
            parts,
            ignore_case,
            exact,
        }
    }

    #[inline]
    fn eq(&self, a: char, pattern_char: char) -> bool {
        a == pattern_char || (self.ignore_case && fold(a) == pattern_char)
    }

    pub fn matches(&self, s: &str) -> bool {
        if let Some(exact) = &self.exact {
            if !self.ignore_case {
                return s == exact;
            }
            let mut a = s.chars();
            let mut b = exact.chars();
            loop {
                match (a.next(), b.next()) {
                    (None, None) => return true,
                    (Some(x), Some(y)) if self.eq(x, y) => {}
                    _ => return false,
                }
            }
        }
        let p = &self.parts;
        let (mut pi, mut si) = (0usize, 0usize);
        // Where to resume after the last '%': (pattern index after it, string index it absorbed up to).
        let mut star: Option<(usize, usize)> = None;
        loop {
            let c = s[si..].chars().next();
            if pi < p.len() {
                match (p[pi], c) {
                    (Part::Any, _) => {
                        pi += 1;
                        star = Some((pi, si));
                        continue;
                    }
                    (Part::One, Some(ch)) => {
                        pi += 1;
                        si += ch.len_utf8();
                        continue;
                    }
                    (Part::Lit(l), Some(ch)) if self.eq(ch, l) => {
                        pi += 1;
                        si += ch.len_utf8();
                        continue;
                    }
                    _ => {}
                }
            } else if c.is_none() {
                return true;
            } else if p.last() == Some(&Part::Any) {
                return true; // trailing '%' absorbs the rest
            }
            // Mismatch: let the last '%' absorb one more character.
            match star {
                Some((sp, ss)) => match s[ss..].chars().next() {
                    Some(ch) => {
                        let ns = ss + ch.len_utf8();
                        star = Some((sp, ns));
                        pi = sp;
                        si = ns;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(s: &str, p: &str) -> bool {
        Like::new(p, false).matches(s)
    }
    fn ilike(s: &str, p: &str) -> bool {
        Like::new(p, true).matches(s)
    }

    #[test]
    fn sql_like_semantics() {
        assert!(like("alpha", "alpha"));
        assert!(!like("Alpha", "alpha"));
        assert!(like("alpha", "al%"));
        assert!(like("alpha", "%ha"));
        assert!(like("alpha", "%lp%"));
        assert!(like("alpha", "a_pha"));
        assert!(!like("alpha", "a_ha"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("a.b", "a.b"));
        assert!(!like("axb", "a.b"), "'.' is not a wildcard");
        assert!(like("a%b", "a%b"));
        assert!(like("mississippi", "%iss%ppi"));
        assert!(like("mississippi", "m%i%s%i"));
        assert!(!like("mississippi", "m%x%"));
        assert!(like("ééé", "_é_"));
        assert!(like("a\\b", "a\\b"), "no escape character");
        assert!(like("abcabc", "%abc"));
        assert!(like("aab", "%ab"));
    }

    #[test]
    fn ilike_folds_case() {
        assert!(ilike("Alpha-Two", "alpha%"));
        assert!(ilike("r1", "R_"));
        assert!(ilike("ÉCOLE", "école"));
        assert!(!ilike("beta", "alpha%"));
        assert!(ilike("ABC", "abc"));
    }
}
