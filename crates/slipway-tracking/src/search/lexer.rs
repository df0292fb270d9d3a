//! Tokenizer for MLflow filter and order-by strings.
//!
//! MLflow parses search strings with `sqlparse`; which inputs it accepts and
//! what its error messages quote depend on how `sqlparse` cuts the string into
//! tokens. This lexer reproduces that cutting for everything a search string
//! can reasonably contain: dotted identifiers (`metrics.acc`,
//! ``tags.`a b` ``, `params."x"`, `tags.mlflow.runName`), single-quoted
//! strings (kept raw: MLflow never unescapes them), numbers with `sqlparse`'s
//! quirks, comparison operators (`[<>=~!]+`, `[NOT] LIKE|ILIKE|RLIKE`),
//! keywords, balanced parentheses and `;`.

/// What a token is, in `sqlparse` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A run of whitespace.
    Ws,
    /// A name: bare word, dotted path, backquoted or double-quoted name
    /// (`sqlparse` groups all of these into an `Identifier`).
    Ident,
    /// A name immediately followed by a parenthesis: `f(1)`.
    Func,
    /// A single-quoted string, quotes included.
    Str,
    Int,
    Float,
    Hex,
    /// A comparison operator: `=`, `!=`, `>=`, `==`, `LIKE`, `NOT ILIKE`, ...
    Cmp,
    /// A keyword other than the comparison ones: `AND`, `OR`, `IN`, `IS`, `NULL`, `NOT NULL`, ...
    Keyword,
    /// `ASC` / `DESC` (optionally with `NULLS FIRST|LAST`).
    Order,
    /// A balanced `( ... )`, parentheses included.
    Paren,
    /// `;`, which separates statements.
    Semi,
    /// Anything else (punctuation, arithmetic operators, comments, stray quotes).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub start: usize,
}

impl<'a> Token<'a> {
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
    pub fn is_ws(&self) -> bool {
        self.kind == Kind::Ws
    }
    /// Keyword match as `sqlparse`'s `token.match(Keyword, [word])`: case-insensitive.
    pub fn is_keyword(&self, word: &str) -> bool {
        self.kind == Kind::Keyword && self.text.eq_ignore_ascii_case(word)
    }
}

/// `sqlparse`'s keywords that can plausibly appear where a name could. A bare
/// word in this list is not an identifier (so `x = TRUE` is not a comparison).
const KEYWORDS: &[&str] = &[
    "ALL",
    "AND",
    "ANY",
    "AS",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CROSS",
    "DEFAULT",
    "DELETE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXISTS",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "LEFT",
    "LIMIT",
    "NOT",
    "NOTNULL",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "RIGHT",
    "SELECT",
    "SET",
    "SOURCE",
    "THEN",
    "TRUE",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VALUES",
    "VERSION",
    "WHEN",
    "WHERE",
    "WITH",
];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Python's `\w` (Unicode): letters, digits, underscore.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `sqlparse`'s `[_A-ZÀ-Ü]` under `IGNORECASE`, used in number lookaheads.
fn is_name_start(c: char) -> bool {
    c == '_'
        || c.is_ascii_alphabetic()
        || ('\u{C0}'..='\u{FE}').contains(&c) && c != '\u{D7}' && c != '\u{F7}'
}

fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|r| r.chars().next())
}

fn digits_end(s: &str, i: usize) -> usize {
    i + s[i..].bytes().take_while(u8::is_ascii_digit).count()
}

/// Matches `sqlparse`'s number rules at `i`, returning kind and end.
fn lex_number(s: &str, i: usize) -> Option<(Kind, usize)> {
    let b = s.as_bytes();
    let at = |k: usize| b.get(k).copied();
    let body = if at(i) == Some(b'-') { i + 1 } else { i };
    // -?0x[\dA-F]+
    if at(body) == Some(b'0') && matches!(at(body + 1), Some(b'x' | b'X')) {
        let e = body
            + 2
            + s[body + 2..]
                .bytes()
                .take_while(u8::is_ascii_hexdigit)
                .count();
        if e > body + 2 {
            return Some((Kind::Hex, e));
        }
    }
    // -?\d+(\.\d+)?E-?\d+
    let int_end = digits_end(s, body);
    if int_end > body {
        let mut m = int_end;
        if at(m) == Some(b'.') && digits_end(s, m + 1) > m + 1 {
            m = digits_end(s, m + 1);
        }
        if matches!(at(m), Some(b'e' | b'E')) {
            let mut e = m + 1;
            if at(e) == Some(b'-') {
                e += 1;
            }
            let de = digits_end(s, e);
            if de > e {
                return Some((Kind::Float, de));
            }
        }
    }
    let ok_after = |e: usize| !char_at(s, e).is_some_and(is_name_start);
    // (?![_A-ZÀ-Ü])-?(\d+(\.\d*)|\.\d+)(?![_A-ZÀ-Ü]), with the regex's backtracking
    if int_end > body && at(int_end) == Some(b'.') {
        let frac_end = digits_end(s, int_end + 1);
        for e in (int_end + 1..=frac_end).rev() {
            if ok_after(e) {
                return Some((Kind::Float, e));
            }
        }
    }
    if int_end == body && at(body) == Some(b'.') {
        let frac_end = digits_end(s, body + 1);
        for e in (body + 2..=frac_end).rev() {
            if ok_after(e) {
                return Some((Kind::Float, e));
            }
        }
    }
    // (?![_A-ZÀ-Ü])-?\d+(?![_A-ZÀ-Ü])
    for e in (body + 1..=int_end).rev() {
        if ok_after(e) {
            return Some((Kind::Int, e));
        }
    }
    None
}

/// Matches a quoted run `q(qq|\q|[^q])*q` at `i` (where `s[i] == q`), with
/// the regex's backtracking when the greedy scan runs off the end.
fn lex_quoted(s: &str, i: usize, q: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut k = i + 1;
    let mut last_escape: Option<(usize, bool)> = None; // (unit start, is doubled quote)
    while k < b.len() {
        if b[k] == q {
            if b.get(k + 1) == Some(&q) {
                last_escape = Some((k, true));
                k += 2;
                continue;
            }
            return Some(k + 1);
        }
        if b[k] == b'\\' && b.get(k + 1) == Some(&q) && q != b'`' {
            last_escape = Some((k, false));
            k += 2;
            continue;
        }
        k += 1;
    }
    // Unterminated: the regex backtracks into the last two-character escape.
    match last_escape {
        Some((u, true)) => Some(u + 1),
        Some((u, false)) => Some(u + 2),
        None => None,
    }
}

/// End of a `\w[$#\w]*` word starting at `i`.
fn word_end(s: &str, i: usize) -> usize {
    let mut e = i;
    for (k, c) in s[i..].char_indices() {
        if is_word(c) || (k > 0 && (c == '$' || c == '#')) {
            e = i + k + c.len_utf8();
        } else {
            break;
        }
    }
    e
}

/// Skips whitespace from `i`; returns the new position.
fn skip_ws(s: &str, i: usize) -> usize {
    i + s[i..]
        .chars()
        .take_while(|c| c.is_whitespace())
        .map(char::len_utf8)
        .sum::<usize>()
}

/// If `s[i..]` starts with `word` (ASCII, case-insensitive) followed by a word boundary, returns its end.
fn word_at(s: &str, i: usize, word: &str) -> Option<usize> {
    let e = i + word.len();
    let w = s.get(i..e)?;
    (w.eq_ignore_ascii_case(word) && !char_at(s, e).is_some_and(is_word)).then_some(e)
}

/// One identifier segment after a `.`; returns its end, or `None` if nothing valid follows.
fn segment_after_dot(s: &str, i: usize) -> Option<usize> {
    let c = char_at(s, i)?;
    match c {
        '`' => lex_quoted(s, i, b'`'),
        '"' => lex_quoted(s, i, b'"'),
        '\'' => lex_quoted(s, i, b'\''),
        '*' => Some(i + 1),
        c if is_word(c) => Some(word_end(s, i)),
        _ => None,
    }
}

/// Extends an identifier whose first segment ends at `e` over `.segment` parts.
fn identifier_end(s: &str, mut e: usize) -> usize {
    while s.as_bytes().get(e) == Some(&b'.') {
        // `.5` right after a name is a float in sqlparse, not a member access.
        if s.as_bytes().get(e + 1).is_some_and(u8::is_ascii_digit) {
            if let Some((Kind::Float, _)) = lex_number(s, e) {
                return e;
            }
        }
        match segment_after_dot(s, e + 1) {
            Some(n) => e = n,
            None => return e + 1, // sqlparse keeps a dangling '.' in the identifier
        }
    }
    e
}

/// End of the balanced parenthesis group opening at `i`, if it closes.
fn paren_end(s: &str, i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut k = i;
    while k < s.len() {
        let (kind, e) = next_token(s, k, true);
        match (kind, &s[k..e]) {
            (Kind::Other, "(") => depth += 1,
            (Kind::Other, ")") => {
                depth -= 1;
                if depth == 0 {
                    return Some(e);
                }
            }
            _ => {}
        }
        k = e;
    }
    None
}

/// Lexes one token at `i` (which must be `< s.len()`). With `flat`, parentheses
/// come back as single-character `Other` tokens (used to find the closing one).
fn next_token(s: &str, i: usize, flat: bool) -> (Kind, usize) {
    let rest = &s[i..];
    let c = rest.chars().next().expect("non-empty");
    // Comments: (--|# ).*?(\r\n|\r|\n|$)
    if rest.starts_with("--") || rest.starts_with("# ") {
        let nl = rest.find(['\r', '\n']).map_or(rest.len(), |p| {
            if rest[p..].starts_with("\r\n") {
                p + 2
            } else {
                p + 1
            }
        });
        return (Kind::Other, i + nl);
    }
    if c.is_whitespace() {
        return (Kind::Ws, skip_ws(s, i));
    }
    if rest.starts_with(":=") || rest.starts_with("::") {
        return (Kind::Other, i + 2);
    }
    match c {
        '`' | '"' => {
            return match lex_quoted(s, i, c as u8) {
                Some(e) => (Kind::Ident, identifier_end(s, e)),
                None => (Kind::Other, i + 1),
            }
        }
        '\'' => {
            return match lex_quoted(s, i, b'\'') {
                Some(e) => (Kind::Str, e),
                None => (Kind::Other, i + 1),
            }
        }
        '(' if !flat => {
            return match paren_end(s, i) {
                Some(e) => (Kind::Paren, e),
                None => (Kind::Other, i + 1),
            }
        }
        ';' => return (Kind::Semi, i + 1),
        // SQLite-style `[name]`, unless it follows a word, ']' or ')'.
        '[' if !s[..i]
            .chars()
            .next_back()
            .is_some_and(|p| is_word(p) || p == ']' || p == ')') =>
        {
            if let Some(close) = rest[1..].find([']', '[']) {
                if close > 0 && rest.as_bytes()[1 + close] == b']' {
                    return (Kind::Ident, identifier_end(s, i + close + 2));
                }
            }
        }
        _ => {}
    }
    if c.is_ascii_digit() || c == '-' || c == '.' {
        if let Some((kind, e)) = lex_number(s, i) {
            return (kind, e);
        }
    }
    if is_word(c) {
        let e = word_end(s, i);
        let word = &s[i..e];
        let upper_is = |w: &str| word.eq_ignore_ascii_case(w);
        // A name followed by '.' starts a dotted identifier whatever the word is.
        if s.as_bytes().get(e) == Some(&b'.') {
            let end = identifier_end(s, e);
            if end > e {
                return (Kind::Ident, end);
            }
        }
        if upper_is("IN") {
            return (Kind::Keyword, e);
        }
        if s.as_bytes().get(e) == Some(&b'(') && !is_keyword(word) {
            if let Some(pe) = paren_end(s, e) {
                return (Kind::Func, pe);
            }
        }
        if upper_is("NOT") {
            let after = skip_ws(s, e);
            if after > e {
                if let Some(ne) = word_at(s, after, "NULL") {
                    return (Kind::Keyword, ne);
                }
                for op in ["LIKE", "ILIKE", "RLIKE", "REGEXP"] {
                    if let Some(oe) = word_at(s, after, op) {
                        return (Kind::Cmp, oe);
                    }
                }
            }
        }
        if upper_is("ASC") || upper_is("DESC") {
            let after = skip_ws(s, e);
            if after > e {
                if let Some(ne) = word_at(s, after, "NULLS") {
                    let after2 = skip_ws(s, ne);
                    if after2 > ne {
                        if let Some(fe) =
                            word_at(s, after2, "FIRST").or_else(|| word_at(s, after2, "LAST"))
                        {
                            return (Kind::Order, fe);
                        }
                    }
                }
            }
            return (Kind::Order, e);
        }
        if ["LIKE", "ILIKE", "RLIKE", "REGEXP"]
            .iter()
            .any(|w| upper_is(w))
        {
            return (Kind::Cmp, e);
        }
        if is_keyword(word) {
            return (Kind::Keyword, e);
        }
        return (Kind::Ident, e);
    }
    if "<>=~!".contains(c) {
        let n = rest.chars().take_while(|c| "<>=~!".contains(*c)).count();
        return (Kind::Cmp, i + n);
    }
    if "+/@#%^&|-".contains(c) {
        let n = rest
            .chars()
            .take_while(|c| "+/@#%^&|-".contains(*c))
            .count();
        return (Kind::Other, i + n);
    }
    (Kind::Other, i + c.len_utf8())
}

/// Cuts `s` into tokens; whitespace is kept (as `Kind::Ws`) so callers can
/// reproduce `sqlparse`'s token texts.
pub(crate) fn lex(s: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let (kind, e) = next_token(s, i, false);
        debug_assert!(e > i);
        out.push(Token {
            kind,
            text: &s[i..e],
            start: i,
        });
        i = e;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, &str)> {
        lex(s)
            .into_iter()
            .filter(|t| !t.is_ws())
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn identifiers() {
        assert_eq!(kinds("metrics.acc"), vec![(Kind::Ident, "metrics.acc")]);
        assert_eq!(
            kinds("tags.mlflow.runName"),
            vec![(Kind::Ident, "tags.mlflow.runName")]
        );
        assert_eq!(
            kinds("metrics.`my m`"),
            vec![(Kind::Ident, "metrics.`my m`")]
        );
        assert_eq!(
            kinds("params.\"a b\""),
            vec![(Kind::Ident, "params.\"a b\"")]
        );
        assert_eq!(kinds("tags.'a b'"), vec![(Kind::Ident, "tags.'a b'")]);
        assert_eq!(kinds("metrics.1acc"), vec![(Kind::Ident, "metrics.1acc")]);
        assert_eq!(kinds("metrics."), vec![(Kind::Ident, "metrics.")]);
        assert_eq!(kinds("`Run Name`"), vec![(Kind::Ident, "`Run Name`")]);
        assert_eq!(kinds("tags.`a``b`"), vec![(Kind::Ident, "tags.`a``b`")]);
    }

    #[test]
    fn numbers_follow_sqlparse() {
        assert_eq!(kinds("-1e3"), vec![(Kind::Float, "-1e3")]);
        assert_eq!(kinds(".5"), vec![(Kind::Float, ".5")]);
        assert_eq!(kinds("5."), vec![(Kind::Float, "5.")]);
        assert_eq!(kinds("-3"), vec![(Kind::Int, "-3")]);
        assert_eq!(kinds("0x1F"), vec![(Kind::Hex, "0x1F")]);
        assert_eq!(kinds("1AND"), vec![(Kind::Ident, "1AND")]);
        assert_eq!(
            kinds("12AND"),
            vec![(Kind::Int, "1"), (Kind::Ident, "2AND")]
        );
        assert_eq!(kinds("1.5e+3")[0], (Kind::Float, "1."));
    }

    #[test]
    fn strings_and_operators() {
        assert_eq!(kinds("'it''s'"), vec![(Kind::Str, "'it''s'")]);
        assert_eq!(kinds("'a\\'b'"), vec![(Kind::Str, "'a\\'b'")]);
        assert_eq!(kinds("'a''"), vec![(Kind::Str, "'a'"), (Kind::Other, "'")]);
        assert_eq!(kinds("'a"), vec![(Kind::Other, "'"), (Kind::Ident, "a")]);
        assert_eq!(
            kinds("a<-3"),
            vec![(Kind::Ident, "a"), (Kind::Cmp, "<"), (Kind::Int, "-3")]
        );
        assert_eq!(kinds("x not  like 'a'")[1], (Kind::Cmp, "not  like"));
        assert_eq!(kinds("x IS NOT NULL")[2], (Kind::Keyword, "NOT NULL"));
        assert_eq!(kinds("x IN ('a', ')')")[2], (Kind::Paren, "('a', ')')"));
        assert_eq!(kinds("x IN ('a'")[2], (Kind::Other, "("));
        assert_eq!(kinds("a DESC")[1], (Kind::Order, "DESC"));
        assert_eq!(kinds("f(1)"), vec![(Kind::Func, "f(1)")]);
        assert_eq!(kinds("a;b")[1], (Kind::Semi, ";"));
        assert_eq!(kinds("version = 1")[0], (Kind::Keyword, "version"));
        assert_eq!(kinds("tags.version")[0], (Kind::Ident, "tags.version"));
    }
}
