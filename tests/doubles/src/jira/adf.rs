//! Atlassian Document Format: validation (v3 rejects anything that is not a well-formed document)
//! and conversion to/from the wiki-markup strings v2 / Data Center use for the same fields.
//!
//! The validator follows the published ADF structure: a `doc` (version 1) holds block nodes;
//! paragraphs and headings hold inline nodes; lists hold `listItem`s; code blocks hold unmarked
//! text; marks are checked for type, attributes, duplicates and the `code`+`link`-only rule.
//! Node kinds outside the subset we model deeply (tables, media, expand, task/decision lists,
//! cards, extensions, layouts) are accepted after a shallow shape check so valid documents are
//! not refused. Invariant: validation never panics and reports the first problem with a path.

use serde_json::{json, Map, Value};

/// The first structural problem found, with a path like `content[0].content[2]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct AdfError {
    pub path: String,
    pub reason: String,
}

fn err(path: &str, reason: impl Into<String>) -> AdfError {
    AdfError {
        path: if path.is_empty() {
            "$".into()
        } else {
            path.to_string()
        },
        reason: reason.into(),
    }
}

const INLINE: &[&str] = &[
    "text",
    "hardBreak",
    "mention",
    "emoji",
    "inlineCard",
    "date",
    "status",
    "mediaInline",
    "placeholder",
    "inlineExtension",
];
const TOP_BLOCKS: &[&str] = &[
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "codeBlock",
    "blockquote",
    "rule",
    "panel",
    "table",
    "mediaSingle",
    "mediaGroup",
    "expand",
    "nestedExpand",
    "taskList",
    "decisionList",
    "blockCard",
    "embedCard",
    "extension",
    "bodiedExtension",
    "layoutSection",
    "multiBodiedExtension",
];
/// Kinds accepted after a shallow check only.
const SHALLOW: &[&str] = &[
    "table",
    "tableRow",
    "tableCell",
    "tableHeader",
    "mediaSingle",
    "mediaGroup",
    "media",
    "mediaInline",
    "expand",
    "nestedExpand",
    "taskList",
    "taskItem",
    "decisionList",
    "decisionItem",
    "blockCard",
    "embedCard",
    "extension",
    "bodiedExtension",
    "inlineExtension",
    "multiBodiedExtension",
    "layoutSection",
    "layoutColumn",
    "placeholder",
];
const LIST_ITEM_CHILDREN: &[&str] = &[
    "paragraph",
    "bulletList",
    "orderedList",
    "codeBlock",
    "mediaSingle",
    "taskList",
];
const BLOCKQUOTE_CHILDREN: &[&str] = &[
    "paragraph",
    "bulletList",
    "orderedList",
    "codeBlock",
    "mediaGroup",
    "mediaSingle",
    "heading",
    "panel",
    "rule",
];
const PANEL_CHILDREN: &[&str] = &[
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "codeBlock",
    "blockCard",
    "mediaGroup",
    "mediaSingle",
    "rule",
    "decisionList",
    "taskList",
];
const NODE_KEYS: &[&str] = &["type", "content", "attrs", "marks", "text", "version"];

/// Validates a complete ADF document.
pub fn validate_document(value: &Value) -> Result<(), AdfError> {
    let obj = value
        .as_object()
        .ok_or_else(|| err("", "an ADF document must be a JSON object"))?;
    if obj.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(err("type", "the root node must have type \"doc\""));
    }
    if obj.get("version").and_then(Value::as_i64) != Some(1) {
        return Err(err("version", "the document version must be 1"));
    }
    check_keys(obj, "")?;
    let content = obj
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| err("content", "the document must have a content array"))?;
    for (i, child) in content.iter().enumerate() {
        let path = format!("content[{i}]");
        let kind = node_type(child, &path)?;
        if !TOP_BLOCKS.contains(&kind) {
            return Err(err(
                &path,
                format!("\"{kind}\" is not allowed at the top level of a document"),
            ));
        }
        validate_node(child, &path)?;
    }
    Ok(())
}

fn check_keys(obj: &Map<String, Value>, path: &str) -> Result<(), AdfError> {
    for key in obj.keys() {
        if !NODE_KEYS.contains(&key.as_str()) {
            return Err(err(path, format!("unexpected property \"{key}\"")));
        }
    }
    Ok(())
}

fn node_type<'a>(node: &'a Value, path: &str) -> Result<&'a str, AdfError> {
    node.as_object()
        .and_then(|o| o.get("type"))
        .and_then(Value::as_str)
        .ok_or_else(|| err(path, "a node must be an object with a string \"type\""))
}

fn attrs<'a>(
    node: &'a Map<String, Value>,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, AdfError> {
    match node.get("attrs") {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(err(path, "\"attrs\" must be an object")),
    }
}

fn children<'a>(
    node: &'a Map<String, Value>,
    path: &str,
    allowed: &[&str],
    required_non_empty: bool,
) -> Result<&'a [Value], AdfError> {
    let content = match node.get("content") {
        None if required_non_empty => return Err(err(path, "\"content\" is required")),
        None => return Ok(&[]),
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(err(path, "\"content\" must be an array")),
    };
    if required_non_empty && content.is_empty() {
        return Err(err(path, "\"content\" must not be empty"));
    }
    for (i, child) in content.iter().enumerate() {
        let child_path = format!("{path}.content[{i}]");
        let kind = node_type(child, &child_path)?;
        if !allowed.contains(&kind) {
            return Err(err(&child_path, format!("\"{kind}\" is not allowed here")));
        }
        validate_node(child, &child_path)?;
    }
    Ok(content)
}

fn no_content(node: &Map<String, Value>, path: &str) -> Result<(), AdfError> {
    if node.contains_key("content") {
        return Err(err(path, "this node cannot have content"));
    }
    Ok(())
}

fn required_str_attr(node: &Map<String, Value>, path: &str, name: &str) -> Result<(), AdfError> {
    let present = attrs(node, path)?
        .and_then(|a| a.get(name))
        .is_some_and(Value::is_string);
    if present {
        Ok(())
    } else {
        Err(err(
            path,
            format!("attrs.{name} is required and must be a string"),
        ))
    }
}

fn validate_node(node: &Value, path: &str) -> Result<(), AdfError> {
    let kind = node_type(node, path)?;
    let obj = node
        .as_object()
        .ok_or_else(|| err(path, "a node must be an object"))?;
    check_keys(obj, path)?;
    if obj.contains_key("version") {
        return Err(err(path, "only the doc node carries a version"));
    }
    if kind != "text" && obj.contains_key("text") {
        return Err(err(path, "only text nodes carry \"text\""));
    }
    if let Some(marks) = obj.get("marks") {
        let block_marks = matches!(
            kind,
            "paragraph" | "heading" | "codeBlock" | "layoutSection" | "expand"
        );
        if kind != "text" && !block_marks {
            return Err(err(path, format!("\"{kind}\" nodes cannot have marks")));
        }
        validate_marks(marks, path, kind)?;
    }
    match kind {
        "paragraph" => {
            attrs(obj, path)?;
            children(obj, path, INLINE, false)?;
        }
        "heading" => {
            let level = attrs(obj, path)?
                .and_then(|a| a.get("level"))
                .and_then(Value::as_i64);
            if !matches!(level, Some(1..=6)) {
                return Err(err(
                    path,
                    "heading attrs.level must be an integer from 1 to 6",
                ));
            }
            children(obj, path, INLINE, false)?;
        }
        "bulletList" => {
            children(obj, path, &["listItem"], true)?;
        }
        "orderedList" => {
            if let Some(order) = attrs(obj, path)?.and_then(|a| a.get("order")) {
                if order.as_i64().is_none_or(|n| n < 0) {
                    return Err(err(
                        path,
                        "orderedList attrs.order must be a non-negative integer",
                    ));
                }
            }
            children(obj, path, &["listItem"], true)?;
        }
        "listItem" => {
            let items = children(obj, path, LIST_ITEM_CHILDREN, true)?;
            let first = items
                .first()
                .and_then(|n| n.get("type"))
                .and_then(Value::as_str);
            if !matches!(first, Some("paragraph" | "codeBlock" | "mediaSingle")) {
                return Err(err(
                    path,
                    "a listItem must start with a paragraph, codeBlock or mediaSingle",
                ));
            }
        }
        "codeBlock" => {
            if let Some(language) = attrs(obj, path)?.and_then(|a| a.get("language")) {
                if !language.is_string() && !language.is_null() {
                    return Err(err(path, "codeBlock attrs.language must be a string"));
                }
            }
            for (i, child) in children(obj, path, &["text"], false)?.iter().enumerate() {
                if child.get("marks").is_some() {
                    return Err(err(
                        &format!("{path}.content[{i}]"),
                        "text in a codeBlock cannot have marks",
                    ));
                }
            }
        }
        "blockquote" => {
            children(obj, path, BLOCKQUOTE_CHILDREN, true)?;
        }
        "panel" => {
            let panel_type = attrs(obj, path)?
                .and_then(|a| a.get("panelType"))
                .and_then(Value::as_str);
            if !matches!(
                panel_type,
                Some("info" | "note" | "tip" | "warning" | "error" | "success" | "custom")
            ) {
                return Err(err(path, "panel attrs.panelType is missing or unknown"));
            }
            children(obj, path, PANEL_CHILDREN, true)?;
        }
        "rule" => no_content(obj, path)?,
        "hardBreak" => {
            no_content(obj, path)?;
            if let Some(text) = attrs(obj, path)?.and_then(|a| a.get("text")) {
                if text.as_str() != Some("\n") {
                    return Err(err(path, "hardBreak attrs.text must be \"\\n\""));
                }
            }
        }
        "text" => {
            no_content(obj, path)?;
            match obj.get("text").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => {}
                _ => return Err(err(path, "a text node needs a non-empty \"text\" string")),
            }
        }
        "mention" => {
            no_content(obj, path)?;
            required_str_attr(obj, path, "id")?;
        }
        "emoji" => {
            no_content(obj, path)?;
            required_str_attr(obj, path, "shortName")?;
        }
        "date" => {
            no_content(obj, path)?;
            required_str_attr(obj, path, "timestamp")?;
        }
        "status" => {
            no_content(obj, path)?;
            required_str_attr(obj, path, "text")?;
            required_str_attr(obj, path, "color")?;
        }
        "inlineCard" => {
            no_content(obj, path)?;
            let a = attrs(obj, path)?;
            if !a.is_some_and(|a| a.contains_key("url") || a.contains_key("data")) {
                return Err(err(path, "inlineCard needs attrs.url or attrs.data"));
            }
        }
        other if SHALLOW.contains(&other) => {
            attrs(obj, path)?;
            if let Some(content) = obj.get("content") {
                let items = content
                    .as_array()
                    .ok_or_else(|| err(path, "\"content\" must be an array"))?;
                for (i, child) in items.iter().enumerate() {
                    let child_path = format!("{path}.content[{i}]");
                    node_type(child, &child_path)?;
                    validate_node(child, &child_path)?;
                }
            }
        }
        "doc" => return Err(err(path, "a doc node can only be the root")),
        other => return Err(err(path, format!("unknown node type \"{other}\""))),
    }
    Ok(())
}

fn validate_marks(marks: &Value, path: &str, node_kind: &str) -> Result<(), AdfError> {
    let list = marks
        .as_array()
        .ok_or_else(|| err(path, "\"marks\" must be an array"))?;
    let mut seen: Vec<&str> = Vec::new();
    for (i, mark) in list.iter().enumerate() {
        let mark_path = format!("{path}.marks[{i}]");
        let obj = mark
            .as_object()
            .ok_or_else(|| err(&mark_path, "a mark must be an object"))?;
        for key in obj.keys() {
            if key != "type" && key != "attrs" {
                return Err(err(&mark_path, format!("unexpected property \"{key}\"")));
            }
        }
        let kind = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&mark_path, "a mark needs a string \"type\""))?;
        if seen.contains(&kind) {
            return Err(err(&mark_path, format!("duplicate \"{kind}\" mark")));
        }
        seen.push(kind);
        let mark_attrs = obj.get("attrs").and_then(Value::as_object);
        let block_mark = matches!(kind, "alignment" | "indentation" | "breakout");
        if node_kind == "text" && block_mark || node_kind != "text" && !block_mark {
            return Err(err(
                &mark_path,
                format!("\"{kind}\" mark is not allowed on \"{node_kind}\""),
            ));
        }
        match kind {
            "strong" | "em" | "strike" | "underline" | "code" => {}
            "link" => {
                if !mark_attrs
                    .and_then(|a| a.get("href"))
                    .is_some_and(Value::is_string)
                {
                    return Err(err(&mark_path, "link mark needs attrs.href"));
                }
            }
            "subsup" => {
                let t = mark_attrs
                    .and_then(|a| a.get("type"))
                    .and_then(Value::as_str);
                if !matches!(t, Some("sub" | "sup")) {
                    return Err(err(
                        &mark_path,
                        "subsup mark attrs.type must be \"sub\" or \"sup\"",
                    ));
                }
            }
            "textColor" | "backgroundColor" => {
                let color = mark_attrs
                    .and_then(|a| a.get("color"))
                    .and_then(Value::as_str);
                let valid = color.is_some_and(|c| {
                    c.len() == 7
                        && c.starts_with('#')
                        && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
                });
                if !valid {
                    return Err(err(
                        &mark_path,
                        "color marks need attrs.color like \"#ff0000\"",
                    ));
                }
            }
            "border" | "annotation" | "fragment" | "dataConsumer" => {}
            "alignment" | "indentation" | "breakout" => {}
            other => return Err(err(&mark_path, format!("unknown mark type \"{other}\""))),
        }
    }
    if seen.contains(&"code") && seen.iter().any(|m| *m != "code" && *m != "link") {
        return Err(err(path, "the code mark can only be combined with link"));
    }
    Ok(())
}

/// Renders an ADF document as Jira wiki markup (what v2 / Data Center show for the same field).
pub fn to_wiki(doc: &Value) -> String {
    let blocks: Vec<String> = doc
        .get("content")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(block_to_wiki).collect())
        .unwrap_or_default();
    blocks.join("\n\n")
}

fn inline_to_wiki(nodes: Option<&Value>) -> String {
    let mut out = String::new();
    for node in nodes
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        match node.get("type").and_then(Value::as_str) {
            Some("text") => {
                let mut text = node
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let marks = node
                    .get("marks")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for mark in &marks {
                    text = match mark.get("type").and_then(Value::as_str) {
                        Some("strong") => format!("*{text}*"),
                        Some("em") => format!("_{text}_"),
                        Some("code") => format!("{{{{{text}}}}}"),
                        Some("strike") => format!("-{text}-"),
                        Some("underline") => format!("+{text}+"),
                        Some("link") => {
                            let href = mark
                                .pointer("/attrs/href")
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            format!("[{text}|{href}]")
                        }
                        _ => text,
                    };
                }
                out.push_str(&text);
            }
            Some("hardBreak") => out.push('\n'),
            Some("mention") => {
                let id = node
                    .pointer("/attrs/id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                out.push_str(&format!("[~accountid:{id}]"));
            }
            Some("emoji") => {
                out.push_str(
                    node.pointer("/attrs/shortName")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                );
            }
            Some("inlineCard") => {
                out.push_str(
                    node.pointer("/attrs/url")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                );
            }
            Some("status") => {
                out.push_str(
                    node.pointer("/attrs/text")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                );
            }
            _ => {}
        }
    }
    out
}

fn list_to_wiki(list: &Value, bullet: &str) -> String {
    let mut lines = Vec::new();
    for item in list
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        for child in item
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            match child.get("type").and_then(Value::as_str) {
                Some("bulletList") => {
                    lines.push(list_to_wiki(child, &format!("{bullet}*")));
                }
                Some("orderedList") => {
                    lines.push(list_to_wiki(child, &format!("{bullet}#")));
                }
                _ => lines.push(format!("{bullet} {}", block_to_wiki(child))),
            }
        }
    }
    lines.join("\n")
}

fn block_to_wiki(node: &Value) -> String {
    match node.get("type").and_then(Value::as_str) {
        Some("paragraph") => inline_to_wiki(node.get("content")),
        Some("heading") => {
            let level = node
                .pointer("/attrs/level")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            format!("h{level}. {}", inline_to_wiki(node.get("content")))
        }
        Some("bulletList") => list_to_wiki(node, "*"),
        Some("orderedList") => list_to_wiki(node, "#"),
        Some("codeBlock") => format!(
            "{{code}}\n{}\n{{code}}",
            inline_to_wiki(node.get("content"))
        ),
        Some("blockquote") => {
            let inner: Vec<String> = node
                .get("content")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(block_to_wiki).collect())
                .unwrap_or_default();
            format!("{{quote}}\n{}\n{{quote}}", inner.join("\n\n"))
        }
        Some("rule") => "----".into(),
        Some("panel") => {
            let inner: Vec<String> = node
                .get("content")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(block_to_wiki).collect())
                .unwrap_or_default();
            format!("{{panel}}\n{}\n{{panel}}", inner.join("\n\n"))
        }
        _ => {
            let inner: Vec<String> = node
                .get("content")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(block_to_wiki).collect())
                .unwrap_or_default();
            inner.join("\n")
        }
    }
}

/// Wraps wiki/plain text in an ADF document (one paragraph per blank-line separated block,
/// single newlines as hard breaks), which is how v3 shows text written through v2.
pub fn from_wiki(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let mut inline = Vec::new();
            for (i, line) in p.split('\n').enumerate() {
                if i > 0 {
                    inline.push(json!({"type": "hardBreak"}));
                }
                if !line.is_empty() {
                    inline.push(json!({"type": "text", "text": line}));
                }
            }
            json!({"type": "paragraph", "content": inline})
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(content: Value) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    #[test]
    fn accepts_a_rich_document() {
        let d = doc(json!([
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Finding"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "bold", "marks": [{"type": "strong"}]},
                {"type": "hardBreak"},
                {"type": "text", "text": "link", "marks": [{"type": "link", "attrs": {"href": "https://x"}}, {"type": "code"}]}
            ]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "a"}]}]}]},
            {"type": "orderedList", "attrs": {"order": 3}, "content": [{"type": "listItem", "content": [{"type": "paragraph"}]}]},
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "fn main() {}"}]},
            {"type": "blockquote", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "q"}]}]},
            {"type": "rule"}
        ]));
        assert_eq!(validate_document(&d), Ok(()));
    }

    #[test]
    fn rejects_plain_strings_and_structural_errors() {
        assert!(validate_document(&json!("just text")).is_err());
        assert!(validate_document(&json!({"type": "doc", "content": []})).is_err());
        let text_at_top = doc(json!([{"type": "text", "text": "x"}]));
        assert!(validate_document(&text_at_top).is_err());
        let bad_heading = doc(json!([{"type": "heading", "attrs": {"level": 9}}]));
        assert!(validate_document(&bad_heading).is_err());
        let empty_list = doc(json!([{"type": "bulletList", "content": []}]));
        assert!(validate_document(&empty_list).is_err());
        let marked_code = doc(
            json!([{"type": "codeBlock", "content": [{"type": "text", "text": "x", "marks": [{"type": "em"}]}]}]),
        );
        assert!(validate_document(&marked_code).is_err());
        let code_and_strong = doc(
            json!([{"type": "paragraph", "content": [{"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strong"}]}]}]),
        );
        assert!(validate_document(&code_and_strong).is_err());
        let empty_text =
            doc(json!([{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]));
        assert!(validate_document(&empty_text).is_err());
        let unknown = doc(json!([{"type": "marquee"}]));
        let e = validate_document(&unknown).unwrap_err();
        assert_eq!(e.path, "content[0]");
    }

    #[test]
    fn converts_between_adf_and_wiki() {
        let d = from_wiki("line one\nline two\n\nsecond para");
        assert_eq!(validate_document(&d), Ok(()));
        assert_eq!(to_wiki(&d), "line one\nline two\n\nsecond para");
        let rich = doc(
            json!([{"type": "paragraph", "content": [{"type": "text", "text": "b", "marks": [{"type": "strong"}]}]}]),
        );
        assert_eq!(to_wiki(&rich), "*b*");
    }
}
