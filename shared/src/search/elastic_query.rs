//! The search request Elasticsearch is sent for a [`SearchQuery`], and the hits read back: the
//! query language ([`crate::search::query`]) as a `bool` query of analyzed clauses.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{SearchHit, SearchQuery};

/// The fields a term is looked for in: the file name (boosted) and the text.
const FIELDS: [&str; 3] = ["original_filename^3", "filename_words^3", "content"];

/// One term of the query language ([`crate::search::query`]) as a clause: a word in the name
/// or the text, a phrase as a phrase, a prefix as a phrase prefix. Every text is analyzed, never
/// parsed as query syntax.
fn clause(term: &crate::search::query::Term) -> Value {
    use crate::search::query::Term;
    match term {
        Term::Word(word) => json!({ "multi_match": { "query": word, "fields": FIELDS, "operator": "and" } }),
        Term::Phrase(words) => {
            json!({ "multi_match": { "query": words.join(" "), "fields": FIELDS, "type": "phrase" } })
        }
        Term::Prefix(prefix) => {
            json!({ "multi_match": { "query": prefix, "fields": FIELDS, "type": "phrase_prefix" } })
        }
    }
}

/// The query: the organization (and type, uploader) as filters, every required term in the
/// name or the content and no excluded one, highlights of both.
pub(super) fn query_body(query: &SearchQuery) -> Value {
    let mut filter = vec![json!({ "term": { "organization_id": query.org_id } })];
    if let Some(content_type) = &query.content_type {
        filter.push(json!({ "term": { "content_type": content_type.to_ascii_lowercase() } }));
    }
    if let Some(uploader) = &query.uploaded_by {
        filter.push(json!({ "term": { "uploaded_by": uploader } }));
    }
    let parsed = crate::search::query::parse(&query.text);
    let mut must: Vec<Value> = parsed.required.iter().map(clause).collect();
    if must.is_empty() {
        must.push(json!({ "match_all": {} }));
    }
    let must_not: Vec<Value> = parsed.excluded.iter().map(clause).collect();
    json!({
        "query": { "bool": { "filter": filter, "must": must, "must_not": must_not } },
        // The `html` encoder escapes the text around the marks: the only markup is `<em>`.
        "highlight": {
            "encoder": "html",
            "fields": { "content": { "fragment_size": 150, "number_of_fragments": 3 }, "filename_words": {} }
        },
        "_source": ["file_id"],
        "from": query.offset,
        "size": query.limit,
        "sort": ["_score", { "created_at": "desc" }],
        "track_total_hits": true
    })
}

pub(super) fn hit_of(hit: &Value) -> Option<SearchHit> {
    let file_id = Uuid::parse_str(hit["_source"]["file_id"].as_str()?).ok()?;
    let mut highlights = Vec::new();
    for field in ["filename_words", "content"] {
        if let Some(fragments) = hit["highlight"][field].as_array() {
            highlights.extend(fragments.iter().filter_map(|f| f.as_str().map(str::to_owned)));
        }
    }
    Some(SearchHit { file_id, highlights })
}
