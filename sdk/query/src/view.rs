//! How the evaluator sees a finding.
//!
//! Why: the host keeps a finding's scanner-supplied attributes as JSON but computes parts of it
//! (the `workflow` namespace, `status`) from its own tables; the routing plugin gets plain JSON.
//! [`FindingView`] lets each supply values by path without building (or cloning) one merged
//! document, and without allocating per lookup.
//! Invariants:
//! - path resolution flattens arrays at every step: `a.b` over `{"a":[{"b":1},{"b":[2,3]}]}`
//!   visits 1, 2 and 3 — this is what gives "value equals or is an element of" semantics and lets
//!   `@workflow.integrations.cases.key` reach every case;
//! - a visitor returning `true` stops the walk (short-circuit), and the walk returns `true` iff
//!   some visit did;
//! - `null` values are visited like any other; the evaluator decides what they mean.

use std::sync::LazyLock;

use serde_json::Value;

use crate::ast::AttributePath;

/// The attributes that a bare search term (no field) is looked for in.
pub const FREE_TEXT_ATTRIBUTES: [&str; 3] = ["title", "description", "resource_name"];

static FREE_TEXT_PATHS: LazyLock<Vec<AttributePath>> = LazyLock::new(|| {
    FREE_TEXT_ATTRIBUTES
        .iter()
        .filter_map(|name| AttributePath::from_dotted(name))
        .collect()
});

/// A finding as the query evaluator sees it.
pub trait FindingView {
    /// Calls `visit` with each value that `path` reaches in the finding's attributes (see the
    /// module invariants: arrays are flattened), stopping as soon as `visit` returns `true`.
    /// Returns whether it did. [`visit_path`] implements the walk over a JSON value.
    fn any_attribute_value(
        &self,
        path: &AttributePath,
        visit: &mut dyn FnMut(&Value) -> bool,
    ) -> bool;

    /// Calls `visit` with each tag (`key:value` text), stopping as soon as it returns `true`.
    fn any_tag(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool;

    /// Calls `visit` with each text that free-text search looks in: by default the string
    /// values of [`FREE_TEXT_ATTRIBUTES`].
    fn any_free_text(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        FREE_TEXT_PATHS.iter().any(|path| {
            self.any_attribute_value(path, &mut |value| value.as_str().is_some_and(&mut *visit))
        })
    }
}

/// Walks `segments` from `root`, flattening arrays, and calls `visit` on every value reached.
pub fn visit_path(
    root: &Value,
    segments: &[String],
    visit: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    match root {
        Value::Array(items) => items.iter().any(|item| visit_path(item, segments, visit)),
        _ => match segments.split_first() {
            None => visit(root),
            Some((head, tail)) => match root {
                Value::Object(map) => map
                    .get(head.as_str())
                    .is_some_and(|child| visit_path(child, tail, visit)),
                _ => false,
            },
        },
    }
}

#[derive(Debug, Clone, Copy)]
enum Tags<'a> {
    Strings(&'a [String]),
    Json(&'a [Value]),
}

/// A [`FindingView`] over a JSON attributes object and a tag list, with optional top-level
/// overrides: `("workflow", &computed)` makes every `@workflow.*` lookup read `computed` instead
/// of the document's own `workflow`.
#[derive(Debug, Clone, Copy)]
pub struct JsonFinding<'a> {
    attributes: &'a Value,
    tags: Tags<'a>,
    overrides: &'a [(&'a str, &'a Value)],
}

impl<'a> JsonFinding<'a> {
    /// A view of `attributes` (the schema attributes object) and `tags` (`key:value` strings).
    pub fn new(attributes: &'a Value, tags: &'a [String]) -> Self {
        Self {
            attributes,
            tags: Tags::Strings(tags),
            overrides: &[],
        }
    }

    /// Like [`JsonFinding::new`] with tags still in JSON form; non-string elements are ignored.
    pub fn with_json_tags(attributes: &'a Value, tags: &'a [Value]) -> Self {
        Self {
            attributes,
            tags: Tags::Json(tags),
            overrides: &[],
        }
    }

    /// A view of one element of an ingest or API body's `data` array:
    /// `{"id", "type": "finding", "attributes": {"attributes": {…}, "tags": [...]}}`.
    /// `None` if `attributes.attributes` is not an object; missing tags mean no tags.
    pub fn from_api_item(item: &'a Value) -> Option<Self> {
        let outer = item.get("attributes")?;
        let attributes = outer.get("attributes").filter(|a| a.is_object())?;
        let tags = outer
            .get("tags")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Some(Self::with_json_tags(attributes, tags))
    }

    /// Replaces top-level attributes (first path segment) with computed values.
    pub fn with_overrides(mut self, overrides: &'a [(&'a str, &'a Value)]) -> Self {
        self.overrides = overrides;
        self
    }
}

impl FindingView for JsonFinding<'_> {
    fn any_attribute_value(
        &self,
        path: &AttributePath,
        visit: &mut dyn FnMut(&Value) -> bool,
    ) -> bool {
        let segments = path.segments();
        if let Some((head, tail)) = segments.split_first() {
            if let Some((_, value)) = self.overrides.iter().find(|(key, _)| *key == head.as_str()) {
                return visit_path(value, tail, visit);
            }
        }
        visit_path(self.attributes, segments, visit)
    }

    fn any_tag(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        match self.tags {
            Tags::Strings(tags) => tags.iter().any(|tag| visit(tag)),
            Tags::Json(tags) => tags.iter().filter_map(Value::as_str).any(visit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn collect(root: &Value, dotted: &str) -> Vec<Value> {
        let path = AttributePath::from_dotted(dotted).unwrap();
        let mut seen = Vec::new();
        visit_path(root, path.segments(), &mut |v| {
            seen.push(v.clone());
            false
        });
        seen
    }

    #[test]
    fn path_walk_flattens_arrays_at_every_step() {
        let doc = json!({"a": [{"b": 1}, {"b": [2, [3]]}, {"c": 4}], "d": {"e": null}});
        assert_eq!(collect(&doc, "a.b"), vec![json!(1), json!(2), json!(3)]);
        assert_eq!(collect(&doc, "d.e"), vec![Value::Null]);
        assert!(collect(&doc, "a.b.x").is_empty());
        assert!(collect(&doc, "missing").is_empty());
    }

    #[test]
    fn path_walk_stops_at_the_first_accepted_value() {
        let doc = json!({"a": [1, 2, 3]});
        let mut visits = 0;
        let found = visit_path(&doc, &["a".to_owned()], &mut |v| {
            visits += 1;
            v == &json!(2)
        });
        assert!(found);
        assert_eq!(visits, 2);
    }

    #[test]
    fn overrides_replace_a_namespace_without_touching_the_document() {
        let doc = json!({"workflow": {"mute": {"is_muted": false}}, "status": "open"});
        let computed = json!({"mute": {"is_muted": true}});
        let overrides = [("workflow", &computed)];
        let view = JsonFinding::new(&doc, &[]).with_overrides(&overrides);
        let path = AttributePath::from_dotted("workflow.mute.is_muted").unwrap();
        assert!(view.any_attribute_value(&path, &mut |v| v == &json!(true)));
        let status = AttributePath::from_dotted("status").unwrap();
        assert!(view.any_attribute_value(&status, &mut |v| v == &json!("open")));
    }

    #[test]
    fn api_item_view_reads_nested_attributes_and_tags() {
        let item = json!({"id": "x", "type": "finding",
            "attributes": {"attributes": {"title": "T"}, "tags": ["env:prod", 7]}});
        let view = JsonFinding::from_api_item(&item).unwrap();
        let mut tags = Vec::new();
        view.any_tag(&mut |t| {
            tags.push(t.to_owned());
            false
        });
        assert_eq!(tags, vec!["env:prod"]);
        assert!(view.any_free_text(&mut |t| t == "T"));
        assert!(JsonFinding::from_api_item(&json!({"attributes": {}})).is_none());
    }
}
