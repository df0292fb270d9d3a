//! Identifier formats shared with MLflow clients.

/// A run id: 32 lowercase hex digits, as MLflow generates them.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A logged model id: `m-` followed by 32 hex digits (MLflow 3).
pub fn new_logged_model_id() -> String {
    format!("m-{}", uuid::Uuid::new_v4().simple())
}

/// True when `s` looks like an id this server could have issued for a run.
pub fn is_run_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_32_hex() {
        let id = new_run_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(is_run_id(&id));
        assert!(!is_run_id("../etc"));
    }

    #[test]
    fn model_ids_have_prefix() {
        let id = new_logged_model_id();
        assert!(id.starts_with("m-"));
        assert_eq!(id.len(), 34);
    }
}
