//! One query language for both search backends: words (all required), `"quoted phrases"`,
//! `-excluded` words or phrases, and `prefix*` words. A query is parsed here once; each backend
//! renders the parse its own way (Elasticsearch: a `bool` query of `multi_match` clauses;
//! PostgreSQL: `websearch_to_tsquery` for words, phrases and exclusions, `to_tsquery` prefixes),
//! so no user input ever reaches either as query syntax.

/// A term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A word.
    Word(String),
    /// Words that must follow one another.
    Phrase(Vec<String>),
    /// The start of a word (letters and digits only).
    Prefix(String),
}

/// A parsed query: terms every result must match, and terms none may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    /// Every result matches each.
    pub required: Vec<Term>,
    /// No result matches any.
    pub excluded: Vec<Term>,
}

/// The words of `text`: runs of anything but whitespace and the query syntax (`"`, and `*` /
/// `-` where they mean something).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '"').filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Letters and digits split into runs (a prefix's lexemes).
fn alphanumeric_runs(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Parses `q`. Never fails: an unclosed quote runs to the end, a lone `-` or `*` is nothing.
pub fn parse(q: &str) -> ParsedQuery {
    let mut parsed = ParsedQuery::default();
    let mut rest = q;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return parsed;
        }
        let (negated, body) = match rest.strip_prefix('-') {
            Some(body) if !body.starts_with(char::is_whitespace) && !body.is_empty() => (true, body),
            Some(body) => {
                rest = body;
                continue;
            }
            None => (false, rest),
        };
        let terms = if let Some(quoted) = body.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            rest = quoted.get(end + 1..).unwrap_or("");
            let phrase = words(&quoted[..end]);
            match phrase.len() {
                0 => Vec::new(),
                1 => vec![Term::Word(phrase.into_iter().next().unwrap_or_default())],
                _ => vec![Term::Phrase(phrase)],
            }
        } else {
            let end = body.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(body.len());
            rest = &body[end..];
            token_terms(&body[..end])
        };
        let target = if negated { &mut parsed.excluded } else { &mut parsed.required };
        target.extend(terms);
    }
}

/// The terms of one unquoted token: a word, or with a trailing `*` a prefix (its last run of
/// letters and digits; runs before it are words).
fn token_terms(token: &str) -> Vec<Term> {
    match token.strip_suffix('*') {
        Some(stem) => {
            let mut runs = alphanumeric_runs(stem.trim_end_matches('*'));
            let Some(last) = runs.pop() else { return Vec::new() };
            runs.into_iter().map(Term::Word).chain([Term::Prefix(last)]).collect()
        }
        None if token.chars().any(char::is_alphanumeric) => vec![Term::Word(token.to_owned())],
        None => Vec::new(),
    }
}

impl ParsedQuery {
    /// Whether it asks for nothing (every file matches).
    pub fn is_empty(&self) -> bool {
        self.required.is_empty() && self.excluded.is_empty()
    }

    /// The words a highlight marks: the required words, phrases' words and prefixes.
    pub fn positive_words(&self) -> Vec<String> {
        self.required
            .iter()
            .flat_map(|t| match t {
                Term::Word(w) | Term::Prefix(w) => vec![w.clone()],
                Term::Phrase(words) => words.clone(),
            })
            .collect()
    }

    /// The words, phrases and exclusions in `websearch_to_tsquery`'s syntax, each word quoted so
    /// that none is read as an operator (`or`, a leading `-`).
    pub fn websearch(&self) -> String {
        let quoted = |term: &Term| match term {
            Term::Word(w) => Some(format!("\"{w}\"")),
            Term::Phrase(words) => Some(format!("\"{}\"", words.join(" "))),
            Term::Prefix(_) => None,
        };
        let required = self.required.iter().filter_map(quoted);
        let excluded = self.excluded.iter().filter_map(quoted).map(|t| format!("-{t}"));
        required.chain(excluded).collect::<Vec<_>>().join(" ")
    }

    /// The prefixes in `to_tsquery`'s syntax (`'lexeme':*`, `!` for excluded ones, `&` between),
    /// each lexeme quoted (letters and digits only, so nothing needs escaping).
    pub fn tsquery_prefixes(&self) -> String {
        let prefix = |negated: bool| {
            move |term: &Term| match term {
                Term::Prefix(p) => Some(format!("{}'{p}':*", if negated { "!" } else { "" })),
                _ => None,
            }
        };
        let required = self.required.iter().filter_map(prefix(false));
        let excluded = self.excluded.iter().filter_map(prefix(true));
        required.chain(excluded).collect::<Vec<_>>().join(" & ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn word(w: &str) -> Term {
        Term::Word(w.to_owned())
    }

    #[test]
    fn words_phrases_exclusions_and_prefixes_are_told_apart() {
        let q = parse(r#"offer "general terms" -draft -"old price" Mül* 2026"#);
        assert_eq!(
            q.required,
            vec![
                word("offer"),
                Term::Phrase(vec!["general".into(), "terms".into()]),
                Term::Prefix("mül".into()),
                word("2026")
            ]
        );
        assert_eq!(q.excluded, vec![word("draft"), Term::Phrase(vec!["old".into(), "price".into()])]);
        assert_eq!(q.websearch(), r#""offer" "general terms" "2026" -"draft" -"old price""#);
        assert_eq!(q.tsquery_prefixes(), "'mül':*");
        assert!(parse("  - * \"\" ").is_empty());
        assert_eq!(parse("\"unclosed phrase").required, vec![Term::Phrase(vec!["unclosed".into(), "phrase".into()])]);
        assert_eq!(parse("Q3-rep*").required, vec![word("q3"), Term::Prefix("rep".into())]);
        assert_eq!(parse("or").websearch(), "\"or\"");
    }

    proptest! {
        /// Whatever the input, the parse renders to syntax neither backend can misread: words
        /// and phrases only inside quotes, prefixes of letters and digits only.
        #[test]
        fn any_query_renders_to_inert_syntax(q in "\\PC{0,80}") {
            let parsed = parse(&q);
            for term in parsed.required.iter().chain(&parsed.excluded) {
                match term {
                    Term::Word(w) => prop_assert!(!w.is_empty() && !w.contains(['"']) && !w.chars().any(char::is_whitespace)),
                    Term::Phrase(ws) => prop_assert!(ws.len() > 1 && ws.iter().all(|w| !w.is_empty() && !w.contains('"'))),
                    Term::Prefix(p) => prop_assert!(!p.is_empty() && p.chars().all(char::is_alphanumeric)),
                }
            }
            prop_assert_eq!(parsed.websearch().matches('"').count() % 2, 0);
        }
    }
}
