//! Groups filter tokens into comparisons the way MLflow sees them.
//!
//! MLflow runs `sqlparse`, which groups `<operand> <op> <operand>` into a
//! `Comparison`, then its own `_join_in_comparison_tokens` turns
//! `ident IN (...)`, `ident NOT IN (...)`, `ident IS NULL` and
//! `ident IS NOT NULL` into comparisons too. Whatever is left that is not a
//! comparison or `AND` is an invalid clause. This module reproduces those
//! steps; the per-entity meaning of a comparison is decided by the callers.

use super::lexer::{lex, Kind, Token};

/// One comparison as MLflow's parser hands it over.
#[derive(Debug, Clone)]
pub(crate) struct RawCmp<'a> {
    /// Left operand; `Kind::Ident` unless the user wrote something else there.
    pub lhs: Token<'a>,
    /// The operator as typed (`=`, `like`, `NOT  LIKE`, `in`), or the
    /// normalized `NOT IN` / `IS NULL` / `IS NOT NULL`.
    pub op: String,
    /// Right operand; `None` for `IS [NOT] NULL`.
    pub rhs: Option<Token<'a>>,
    /// `str()` of the comparison token, as `sqlparse` would print it.
    pub text: String,
}

/// A top-level item of the statement after grouping (whitespace dropped).
#[derive(Debug, Clone)]
pub(crate) enum Node<'a> {
    Tok(Token<'a>),
    Cmp(RawCmp<'a>),
    /// Some other `sqlparse` group (an aliased identifier, an identifier
    /// list): never a valid clause, only ever quoted in an error.
    Group(&'a str),
}

impl Node<'_> {
    /// `str(token)`.
    pub fn text(&self) -> &str {
        match self {
            Node::Tok(t) => t.text,
            Node::Cmp(c) => &c.text,
            Node::Group(g) => g,
        }
    }
}

/// The outcome of splitting and grouping a filter string.
pub(crate) enum Statement<'a> {
    /// `sqlparse.parse` returned no statement (blank input).
    Empty,
    /// More than one `;`-separated statement.
    Multiple,
    /// The single statement's top-level items.
    Nodes(Vec<Node<'a>>),
}

/// Whether `t` may stand on either side of a comparison operator (sqlparse's `group_comparison`).
fn is_operand(t: &Token<'_>) -> bool {
    matches!(
        t.kind,
        Kind::Ident | Kind::Func | Kind::Str | Kind::Int | Kind::Float | Kind::Paren
    ) || t.is_keyword("NULL")
}

/// Lexes, splits into statements and groups the only statement.
pub(crate) fn parse_statement(s: &str) -> Statement<'_> {
    let tokens = lex(s);
    // sqlparse splits after each ';'; a trailing whitespace-only remainder is not a statement.
    let mut statements: Vec<&[Token<'_>]> = Vec::new();
    let mut begin = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.kind == Kind::Semi {
            statements.push(&tokens[begin..=i]);
            begin = i + 1;
        }
    }
    if tokens[begin..].iter().any(|t| !t.is_ws()) || statements.is_empty() {
        statements.push(&tokens[begin..]);
    }
    statements.retain(|st| st.iter().any(|t| !t.is_ws()));
    match statements.len() {
        0 => Statement::Empty,
        1 => {
            let nodes = group_comparisons(s, statements[0]);
            let nodes = group_aliased(s, nodes);
            let nodes = group_identifier_lists(s, nodes);
            Statement::Nodes(join_in_comparisons(nodes))
        }
        _ => Statement::Multiple,
    }
}

/// sqlparse's `group_comparison`: `operand op operand` becomes one node.
/// A comparison just formed is itself a valid left operand (`a = b = c`).
fn group_comparisons<'a>(s: &'a str, tokens: &[Token<'a>]) -> Vec<Node<'a>> {
    let mut out: Vec<Node<'a>> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        if t.kind == Kind::Cmp {
            let next = (i + 1..tokens.len()).find(|&k| !tokens[k].is_ws());
            let prev_ok = match out.last() {
                Some(Node::Tok(p)) => is_operand(p),
                Some(Node::Cmp(_)) => true,
                Some(Node::Group(_)) | None => false,
            };
            if let (true, Some(n)) = (prev_ok, next) {
                if is_operand(&tokens[n]) {
                    let lhs = match out.pop().expect("checked") {
                        Node::Tok(p) => p,
                        Node::Group(_) => unreachable!("no groups before comparisons"),
                        Node::Cmp(c) => Token {
                            kind: Kind::Other,
                            text: &s[c.lhs.start..c.rhs.map_or(c.lhs.end(), |r| r.end())],
                            start: c.lhs.start,
                        },
                    };
                    let rhs = tokens[n];
                    out.push(Node::Cmp(RawCmp {
                        lhs,
                        op: t.text.to_string(),
                        rhs: Some(rhs),
                        text: s[lhs.start..rhs.end()].to_string(),
                    }));
                    i = n + 1;
                    continue;
                }
            }
        }
        if !t.is_ws() {
            out.push(Node::Tok(t));
        }
        i += 1;
    }
    out
}

/// Byte span of a node in the source (comparisons here always have a right side).
fn span(s: &str, node: &Node<'_>) -> (usize, usize) {
    match node {
        Node::Tok(t) => (t.start, t.end()),
        Node::Cmp(c) => (c.lhs.start, c.rhs.map_or(c.lhs.end(), |r| r.end())),
        Node::Group(g) => {
            let start = g.as_ptr() as usize - s.as_ptr() as usize;
            (start, start + g.len())
        }
    }
}

/// sqlparse's `group_aliased`: an operand followed by an identifier becomes
/// one (aliased) identifier, e.g. `metrics.a > 1 foo`.
fn group_aliased<'a>(s: &'a str, nodes: Vec<Node<'a>>) -> Vec<Node<'a>> {
    let mut out: Vec<Node<'a>> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let aliasable = match out.last() {
            Some(Node::Cmp(_) | Node::Group(_)) => true,
            Some(Node::Tok(t)) => matches!(
                t.kind,
                Kind::Paren | Kind::Func | Kind::Ident | Kind::Int | Kind::Float | Kind::Hex
            ),
            None => false,
        };
        if aliasable && matches!(&node, Node::Tok(t) if t.kind == Kind::Ident) {
            let (start, _) = span(s, out.last().expect("checked"));
            let (_, end) = span(s, &node);
            out.pop();
            out.push(Node::Group(&s[start..end]));
        } else {
            out.push(node);
        }
    }
    out
}

/// sqlparse's `group_identifier_list`: `item, item, ...` becomes one list.
fn group_identifier_lists<'a>(s: &'a str, nodes: Vec<Node<'a>>) -> Vec<Node<'a>> {
    let valid = |n: &Node<'_>| match n {
        Node::Cmp(_) | Node::Group(_) => true,
        Node::Tok(t) => matches!(
            t.kind,
            Kind::Ident
                | Kind::Func
                | Kind::Int
                | Kind::Float
                | Kind::Hex
                | Kind::Str
                | Kind::Keyword
                | Kind::Order
        ),
    };
    let mut out: Vec<Node<'a>> = Vec::with_capacity(nodes.len());
    let mut it = nodes.into_iter().peekable();
    while let Some(node) = it.next() {
        let is_comma = matches!(&node, Node::Tok(t) if t.kind == Kind::Other && t.text == ",");
        if is_comma && out.last().is_some_and(valid) && it.peek().is_some_and(valid) {
            let next = it.next().expect("peeked");
            let (start, _) = span(s, out.last().expect("checked"));
            let (_, end) = span(s, &next);
            out.pop();
            out.push(Node::Group(&s[start..end]));
        } else {
            out.push(node);
        }
    }
    out
}

/// MLflow's `_join_in_comparison_tokens`, step for step (including where it
/// gives up on a window of tokens that does not match).
fn join_in_comparisons<'a>(nodes: Vec<Node<'a>>) -> Vec<Node<'a>> {
    let n = nodes.len();
    let mut joined = Vec::with_capacity(n);
    let mut it = nodes.into_iter().enumerate().peekable();
    fn tok<'a>(node: &Node<'a>) -> Option<Token<'a>> {
        match node {
            Node::Tok(t) => Some(*t),
            Node::Cmp(_) | Node::Group(_) => None,
        }
    }
    while let Some((index, first)) = it.next() {
        if n - index < 3 {
            joined.push(first);
            joined.extend(it.map(|(_, x)| x));
            break;
        }
        let Some(ft) = tok(&first).filter(|t| t.kind == Kind::Ident) else {
            joined.push(first);
            continue;
        };
        let (_, second) = it.next().expect("at least 3 left");
        let (_, third) = it.next().expect("at least 3 left");
        let (st, tt) = (tok(&second), tok(&third));
        let mk = |op: &str, rhs: Option<Token<'a>>, shown: &str| {
            let text = format!("{}{}{}", ft.text, shown, rhs.map_or("", |r| r.text));
            RawCmp {
                lhs: ft,
                op: op.to_string(),
                rhs,
                text,
            }
        };
        if let (Some(s2), Some(t3)) = (st, tt) {
            if s2.is_keyword("IN") && t3.kind == Kind::Paren {
                joined.push(Node::Cmp(mk(s2.text, Some(t3), s2.text)));
                continue;
            }
            if s2.is_keyword("IS") && t3.is_keyword("NULL") {
                joined.push(Node::Cmp(mk("IS NULL", None, "IS NULL")));
                continue;
            }
            if s2.is_keyword("IS")
                && t3.kind == Kind::Keyword
                && t3.text.to_uppercase() == "NOT NULL"
            {
                joined.push(Node::Cmp(mk("IS NOT NULL", None, "IS NOT NULL")));
                continue;
            }
        }
        let Some((_, fourth)) = it.next() else {
            joined.extend([first, second, third]);
            break;
        };
        if let (Some(s2), Some(t3), Some(f4)) = (st, tt, tok(&fourth)) {
            if s2.is_keyword("NOT") && t3.is_keyword("IN") && f4.kind == Kind::Paren {
                joined.push(Node::Cmp(mk("NOT IN", Some(f4), "NOT IN")));
                continue;
            }
        }
        joined.extend([first, second, third, fourth]);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(s: &str) -> Vec<String> {
        match parse_statement(s) {
            Statement::Nodes(n) => n
                .iter()
                .map(|n| match n {
                    Node::Tok(t) => format!("T:{}", t.text),
                    Node::Cmp(c) => format!(
                        "C:{}|{}|{}",
                        c.lhs.text,
                        c.op,
                        c.rhs.map_or("-", |r| r.text)
                    ),
                    Node::Group(g) => format!("G:{g}"),
                })
                .collect(),
            Statement::Empty => vec!["EMPTY".into()],
            Statement::Multiple => vec!["MULTI".into()],
        }
    }

    #[test]
    fn groups_like_sqlparse() {
        assert_eq!(
            nodes("metrics.a > 1 and params.b = 'x'"),
            ["C:metrics.a|>|1", "T:and", "C:params.b|=|'x'"]
        );
        assert_eq!(
            nodes("metrics.a > 1 params.b = 'x'"),
            ["C:metrics.a|>|1", "C:params.b|=|'x'"]
        );
        assert_eq!(nodes("a = b = c"), ["C:a = b|=|c"]);
        assert_eq!(
            nodes("metrics.a = = 1"),
            ["T:metrics.a", "T:=", "T:=", "T:1"]
        );
        assert_eq!(nodes("run_id in ('a')"), ["C:run_id|in|('a')"]);
        assert_eq!(nodes("run_id NOT  IN ('a')"), ["C:run_id|NOT IN|('a')"]);
        assert_eq!(nodes("tags.x is not null"), ["C:tags.x|IS NOT NULL|-"]);
        assert_eq!(
            nodes("tags.x IS  NOT   NULL"),
            ["T:tags.x", "T:IS", "T:NOT   NULL"]
        );
        assert_eq!(nodes("x = 1;"), ["C:x|=|1", "T:;"]);
        assert_eq!(nodes("x = 1; y = 2"), ["MULTI"]);
        assert_eq!(nodes("   "), ["EMPTY"]);
        assert_eq!(nodes("(metrics.a > 1)"), ["T:(metrics.a > 1)"]);
        assert_eq!(nodes("metrics.a > 12AND"), ["G:metrics.a > 12AND"]);
        assert_eq!(nodes("status FINISHED"), ["G:status FINISHED"]);
        assert_eq!(
            nodes("metrics.a > 1, params.b = 'x'"),
            ["G:metrics.a > 1, params.b = 'x'"]
        );
    }
}
