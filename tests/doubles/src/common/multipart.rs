//! A small `multipart/form-data` (RFC 7578) reader for attachment uploads.
//!
//! Only what an upload needs: the boundary from `Content-Type`, each part's
//! `Content-Disposition` name/filename, its `Content-Type`, and its raw bytes. Invariant: malformed
//! input yields an error, never a panic, and part bodies are returned byte-exact (binary safe).

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MultipartError {
    #[error("the request is not multipart/form-data")]
    NotMultipart,
    #[error("the multipart boundary is missing")]
    NoBoundary,
    #[error("the multipart body is malformed: {0}")]
    Malformed(&'static str),
}

/// Extracts the boundary parameter from a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut pieces = content_type.split(';');
    let media = pieces.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    for piece in pieces {
        let piece = piece.trim();
        if let Some((key, value)) = piece.split_once('=') {
            if key.trim().eq_ignore_ascii_case("boundary") {
                let value = value.trim().trim_matches('"');
                if !value.is_empty() {
                    return Ok(value.to_string());
                }
            }
        }
    }
    Err(MultipartError::NoBoundary)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() || from > haystack.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| &haystack[i..i + needle.len()] == needle)
}

fn disposition_param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|piece| {
        let (key, value) = piece.trim().split_once('=')?;
        if key.trim().eq_ignore_ascii_case(name) {
            Some(value.trim().trim_matches('"').to_string())
        } else {
            None
        }
    })
}

/// Splits a multipart body into parts.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let boundary = boundary(content_type)?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut cursor = find(body, &delimiter, 0).ok_or(MultipartError::Malformed("no boundary"))?;
    loop {
        cursor += delimiter.len();
        if body.get(cursor..cursor + 2) == Some(b"--") {
            break;
        }
        if body.get(cursor..cursor + 2) != Some(b"\r\n") {
            return Err(MultipartError::Malformed("boundary not followed by CRLF"));
        }
        cursor += 2;
        let header_end =
            find(body, b"\r\n\r\n", cursor).ok_or(MultipartError::Malformed("part headers"))?;
        let headers = String::from_utf8_lossy(&body[cursor..header_end]).to_string();
        let data_start = header_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&delimiter);
        let data_end = find(body, &closing, data_start)
            .ok_or(MultipartError::Malformed("unterminated part"))?;
        let mut name = None;
        let mut filename = None;
        let mut part_type = None;
        for line in headers.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            if key == "content-disposition" {
                name = disposition_param(value, "name");
                filename = disposition_param(value, "filename");
            } else if key == "content-type" {
                part_type = Some(value.trim().to_string());
            }
        }
        parts.push(Part {
            name: name.ok_or(MultipartError::Malformed("part without a name"))?,
            filename,
            content_type: part_type,
            data: body[data_start..data_end].to_vec(),
        });
        cursor = data_end + 2;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_named_file_parts_byte_exact() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\x02\r\n--XyZ--\r\n";
        let parts = parse("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name, "file");
        assert_eq!(parts[0].filename.as_deref(), Some("a.bin"));
        assert_eq!(parts[0].data, b"\x00\x01\r\x02");
    }

    #[test]
    fn rejects_non_multipart_and_garbage() {
        assert_eq!(
            parse("application/json", b"{}"),
            Err(MultipartError::NotMultipart)
        );
        assert!(parse("multipart/form-data; boundary=b", b"nothing here").is_err());
    }
}
