//! Page tokens: base64 of `{"offset": N}`, as MLflow's SQL store issues them.

use base64::Engine;
use slipway_core::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

pub fn encode_page_token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// Decodes a token from [`encode_page_token`]; `None` or empty means offset 0.
pub fn decode_page_token(token: Option<&str>) -> Result<usize> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let bad = || {
        Error::invalid(format!(
            "Invalid page token, could not base64-decode: '{token}'"
        ))
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token.trim()))
        .map_err(|_| bad())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let offset = value.get("offset").ok_or_else(|| {
        Error::invalid("Invalid page token, parsed value does not contain 'offset' field")
    })?;
    offset.as_u64().map(|o| o as usize).ok_or_else(|| {
        Error::invalid(format!(
            "Invalid page token, offset must be a non-negative integer: {offset}"
        ))
    })
}

/// Cuts one page out of `items`.
pub fn paginate<T>(items: Vec<T>, max_results: usize, page_token: Option<&str>) -> Result<Page<T>> {
    let offset = decode_page_token(page_token)?;
    let total = items.len();
    let end = offset.saturating_add(max_results).min(total);
    let next_page_token = (end < total).then(|| encode_page_token(end));
    let items = items
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    Ok(Page {
        items,
        next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<u32> = (0..25).collect();
        let mut token: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page = paginate(items.clone(), 10, token.as_deref()).unwrap();
            seen.extend(page.items);
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn token_format_matches_mlflow() {
        assert_eq!(encode_page_token(10), "eyJvZmZzZXQiOiAxMH0=");
        assert_eq!(decode_page_token(Some("eyJvZmZzZXQiOiAxMH0=")).unwrap(), 10);
    }

    #[test]
    fn garbage_tokens_are_invalid_parameter() {
        assert!(decode_page_token(Some("@@@")).is_err());
        assert!(decode_page_token(Some("e30=")).is_err()); // {}
    }
}
